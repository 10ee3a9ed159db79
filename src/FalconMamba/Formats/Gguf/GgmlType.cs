using FalconMamba.Kernels;

namespace FalconMamba.Formats.Gguf;

/// <summary>
/// ggml tensor type ids as stored in a GGUF tensor info (SPEC.md §4.1; <c>ggml.h</c> <c>enum ggml_type</c>,
/// gguf-py <c>GGMLQuantizationType</c>). Ids 4, 5, 31–33, 36–38 were removed upstream.
/// </summary>
public enum GgmlType : uint
{
#pragma warning disable CS1591 // the names are the ggml names
    F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
    Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15,
    IQ2_XXS = 16, IQ2_XS = 17, IQ3_XXS = 18, IQ1_S = 19, IQ4_NL = 20, IQ3_S = 21, IQ2_S = 22, IQ4_XS = 23,
    I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28, IQ1_M = 29, BF16 = 30, TQ1_0 = 34, TQ2_0 = 35, MXFP4 = 39,
#pragma warning restore CS1591
}

/// <summary>Block geometry of each ggml type and the mapping to the engine's <see cref="TensorType"/>.</summary>
public static class GgmlTypes
{
    /// <summary>
    /// (elements per block, bytes per block); (0, 0) for a type whose layout this build does not know.
    /// Sizes from gguf-py <c>GGML_QUANT_SIZES</c> and the <c>static_assert</c>s in <c>ggml-common.h</c>.
    /// </summary>
    public static (int BlockSize, int TypeSize) Geometry(GgmlType t) => t switch
    {
        GgmlType.F32 => (1, 4),
        GgmlType.F16 => (1, 2),
        GgmlType.BF16 => (1, 2),
        GgmlType.F64 => (1, 8),
        GgmlType.I8 => (1, 1),
        GgmlType.I16 => (1, 2),
        GgmlType.I32 => (1, 4),
        GgmlType.I64 => (1, 8),
        GgmlType.Q4_0 => (32, 18),   // f16 d, u8 qs[16]
        GgmlType.Q4_1 => (32, 20),   // f16 d, f16 m, u8 qs[16]
        GgmlType.Q5_0 => (32, 22),   // f16 d, u8 qh[4], u8 qs[16]
        GgmlType.Q5_1 => (32, 24),   // f16 d, f16 m, u8 qh[4], u8 qs[16]
        GgmlType.Q8_0 => (32, 34),   // f16 d, i8 qs[32]
        GgmlType.Q8_1 => (32, 36),   // f16 d, f16 s, i8 qs[32]
        GgmlType.Q2_K => (256, 84),  // u8 scales[16], u8 qs[64], f16 d, f16 dmin
        GgmlType.Q3_K => (256, 110), // u8 hmask[32], u8 qs[64], u8 scales[12], f16 d
        GgmlType.Q4_K => (256, 144), // f16 d, f16 dmin, u8 scales[12], u8 qs[128]
        GgmlType.Q5_K => (256, 176), // f16 d, f16 dmin, u8 scales[12], u8 qh[32], u8 qs[128]
        GgmlType.Q6_K => (256, 210), // u8 ql[128], u8 qh[64], i8 scales[16], f16 d
        GgmlType.Q8_K => (256, 292), // f32 d, i8 qs[256], i16 bsums[16]
        _ => (0, 0),
    };

    /// <summary>Bytes of one row of <paramref name="n"/> elements (n must be a multiple of the block size).</summary>
    public static long RowBytes(GgmlType t, long n)
    {
        var (bs, ts) = Geometry(t);
        return n / bs * ts;
    }

    /// <summary>The engine's storage type for a ggml type that can be used as a weight matrix, or null.</summary>
    public static TensorType? ToTensorType(GgmlType t) => t switch
    {
        GgmlType.F32 => TensorType.F32,
        GgmlType.F16 => TensorType.F16,
        GgmlType.BF16 => TensorType.BF16,
        GgmlType.Q4_0 => TensorType.Q4_0,
        GgmlType.Q4_1 => TensorType.Q4_1,
        GgmlType.Q5_0 => TensorType.Q5_0,
        GgmlType.Q5_1 => TensorType.Q5_1,
        GgmlType.Q8_0 => TensorType.Q8_0,
        GgmlType.Q2_K => TensorType.Q2_K,
        GgmlType.Q3_K => TensorType.Q3_K,
        GgmlType.Q4_K => TensorType.Q4_K,
        GgmlType.Q5_K => TensorType.Q5_K,
        GgmlType.Q6_K => TensorType.Q6_K,
        _ => null,
    };

    /// <summary>The ggml type for an engine storage type (throws for bitsandbytes types, which GGUF cannot hold).</summary>
    public static GgmlType FromTensorType(TensorType t) => t switch
    {
        TensorType.F32 => GgmlType.F32,
        TensorType.F16 => GgmlType.F16,
        TensorType.BF16 => GgmlType.BF16,
        TensorType.Q4_0 => GgmlType.Q4_0,
        TensorType.Q4_1 => GgmlType.Q4_1,
        TensorType.Q5_0 => GgmlType.Q5_0,
        TensorType.Q5_1 => GgmlType.Q5_1,
        TensorType.Q8_0 => GgmlType.Q8_0,
        TensorType.Q2_K => GgmlType.Q2_K,
        TensorType.Q3_K => GgmlType.Q3_K,
        TensorType.Q4_K => GgmlType.Q4_K,
        TensorType.Q5_K => GgmlType.Q5_K,
        TensorType.Q6_K => GgmlType.Q6_K,
        _ => throw new FalconMambaException($"tensor type {t} cannot be stored in GGUF"),
    };

    /// <summary>
    /// <c>general.file_type</c> (llama.h <c>llama_ftype</c>, SPEC.md §4.1) for a file whose big matrices are <paramref name="t"/>.
    /// </summary>
    public static uint FileType(GgmlType t) => t switch
    {
        GgmlType.F32 => 0,
        GgmlType.F16 => 1,
        GgmlType.Q4_0 => 2,
        GgmlType.Q4_1 => 3,
        GgmlType.Q8_0 => 7,
        GgmlType.Q5_0 => 8,
        GgmlType.Q5_1 => 9,
        GgmlType.Q2_K => 10,
        GgmlType.Q3_K => 12,   // Q3_K_M
        GgmlType.Q4_K => 14,   // Q4_K_S
        GgmlType.Q5_K => 16,   // Q5_K_S
        GgmlType.Q6_K => 18,
        GgmlType.BF16 => 32,
        _ => throw new FalconMambaException($"no general.file_type for ggml type {t}"),
    };
}
