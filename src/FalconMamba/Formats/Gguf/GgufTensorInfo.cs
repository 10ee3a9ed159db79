namespace FalconMamba.Formats.Gguf;

/// <summary>
/// One tensor of a GGUF file. <see cref="Ne"/> is in ggml order (ne[0] = innermost, contiguous dimension first), so a
/// PyTorch [rows, cols] weight appears as ne = {cols, rows} with the same row-major bytes (SPEC.md §4.1, pitfall 25).
/// </summary>
public sealed record GgufTensorInfo(string Name, long[] Ne, GgmlType Type, long Offset, long DataOffset, long ByteSize)
{
    /// <summary>Elements (product of ne).</summary>
    public long ElementCount => Ne.Aggregate(1L, (a, b) => a * b);
    /// <summary>The PyTorch-order shape (ne reversed), e.g. [rows, cols].</summary>
    public long[] Shape => Ne.Reverse().ToArray();
    /// <summary>ne as text in ggml order, e.g. {4096, 16384}.</summary>
    public string NeText => "{" + string.Join(", ", Ne) + "}";
}
