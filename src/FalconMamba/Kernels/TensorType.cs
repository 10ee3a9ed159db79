namespace FalconMamba.Kernels;

/// <summary>
/// Element / block type of a stored weight. Names follow ggml (SPEC.md §5) and bitsandbytes (SPEC.md §6).
/// </summary>
public enum TensorType
{
    F32, F16, BF16,
    Q4_0, Q4_1, Q5_0, Q5_1, Q8_0,
    Q2_K, Q3_K, Q4_K, Q5_K, Q6_K,
    /// <summary>bitsandbytes 4-bit NormalFloat.</summary>
    NF4,
    /// <summary>bitsandbytes 4-bit float.</summary>
    FP4,
}
