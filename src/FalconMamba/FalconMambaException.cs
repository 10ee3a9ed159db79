namespace FalconMamba;

/// <summary>
/// A user-facing error: bad input file, tensor, field or argument. The message names the culprit
/// (file, tensor, field, expected vs actual) and is meant to be printed as one line, without a stack trace.
/// </summary>
public class FalconMambaException : Exception
{
    /// <summary>Creates the error with a message that names the file, tensor, field or argument at fault.</summary>
    public FalconMambaException(string message) : base(message) { }

    /// <summary>Creates the error wrapping the low-level cause.</summary>
    public FalconMambaException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>A model or tokenizer file is malformed, truncated, or does not match its config.</summary>
public sealed class ModelFormatException : FalconMambaException
{
    /// <summary>Creates the error; the message names the file and the tensor/field/key at fault.</summary>
    public ModelFormatException(string message) : base(message) { }

    /// <summary>Creates the error wrapping the low-level cause.</summary>
    public ModelFormatException(string message, Exception inner) : base(message, inner) { }
}
