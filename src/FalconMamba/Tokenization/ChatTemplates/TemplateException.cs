namespace FalconMamba.Tokenization.ChatTemplates;

/// <summary>
/// A chat template failed to parse or render: bad syntax, unknown filter/test/tag, a type error, or a
/// <c>raise_exception(...)</c> call in the template. The message names the template line and column.
/// </summary>
public sealed class TemplateException : FalconMambaException
{
    /// <summary>1-based line in the template text where the error was detected.</summary>
    public int Line { get; }

    /// <summary>1-based column in the template text where the error was detected.</summary>
    public int Column { get; }

    /// <summary>The error without its location (for <c>raise_exception</c>: exactly the template's message).</summary>
    public string Reason { get; }

    /// <summary>Creates the error; the message becomes "chat template line L, column C: reason".</summary>
    public TemplateException(string reason, int line, int column)
        : base($"chat template line {line}, column {column}: {reason}")
    {
        Reason = reason;
        Line = line;
        Column = column;
    }
}

/// <summary>A runtime error raised by value operations before its template position is known; the interpreter adds it.</summary>
internal sealed class TemplateRuntimeError(string message) : Exception(message);
