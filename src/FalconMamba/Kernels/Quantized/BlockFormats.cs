using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace FalconMamba.Kernels.Quantized;

/// <summary>
/// Scalar dequantize-row references for the ggml element and block formats (SPEC.md §5; layouts from ggml-common.h,
/// formulas from ggml-quants.c <c>dequantize_row_*</c>). A row of n elements is n / block-size consecutive blocks.
/// These are the readable references every faster path is tested against.
/// </summary>
public static class BlockFormats
{
    /// <summary>Elements per block and bytes per block of a storage type.</summary>
    public static (int BlockSize, int TypeSize) Geometry(TensorType t) => t switch
    {
        TensorType.F32 => (1, 4),
        TensorType.F16 or TensorType.BF16 => (1, 2),
        TensorType.Q4_0 => (32, 18),
        TensorType.Q4_1 => (32, 20),
        TensorType.Q5_0 => (32, 22),
        TensorType.Q5_1 => (32, 24),
        TensorType.Q8_0 => (32, 34),
        TensorType.Q2_K => (256, 84),
        TensorType.Q3_K => (256, 110),
        TensorType.Q4_K => (256, 144),
        TensorType.Q5_K => (256, 176),
        TensorType.Q6_K => (256, 210),
        _ => throw new ArgumentOutOfRangeException(nameof(t), t, "not a ggml block format"),
    };

    /// <summary>Bytes of a row of <paramref name="n"/> elements.</summary>
    public static long RowBytes(TensorType t, long n)
    {
        var (bs, ts) = Geometry(t);
        if (n % bs != 0) throw new ArgumentException($"{t} rows must be a multiple of {bs} elements, got {n}");
        return n / bs * ts;
    }

    static float H(ReadOnlySpan<byte> b, int at) => (float)BitConverter.UInt16BitsToHalf(BinaryPrimitives.ReadUInt16LittleEndian(b[at..]));

    /// <summary>Decodes one row of <paramref name="src"/> (exactly RowBytes(type, dst.Length) bytes) into f32.</summary>
    public static void DequantizeRow(TensorType type, ReadOnlySpan<byte> src, Span<float> dst)
    {
        var (bs, ts) = Geometry(type);
        if (dst.Length % bs != 0 || src.Length != dst.Length / bs * ts)
            throw new ArgumentException($"{type}: {src.Length} bytes cannot hold {dst.Length} elements");
        int nb = dst.Length / bs;
        switch (type)
        {
            case TensorType.F32: MemoryMarshal.Cast<byte, float>(src).CopyTo(dst); return;
            case TensorType.F16: System.Numerics.Tensors.TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<byte, Half>(src), dst); return;
            case TensorType.BF16: Dot.BF16ToF32(MemoryMarshal.Cast<byte, ushort>(src), dst); return;
        }
        for (int i = 0; i < nb; i++)
        {
            var b = src.Slice(i * ts, ts);
            var y = dst.Slice(i * bs, bs);
            switch (type)
            {
                case TensorType.Q4_0: Q4_0(b, y); break;
                case TensorType.Q4_1: Q4_1(b, y); break;
                case TensorType.Q5_0: Q5_0(b, y); break;
                case TensorType.Q5_1: Q5_1(b, y); break;
                case TensorType.Q8_0: Q8_0(b, y); break;
                case TensorType.Q2_K: Q2_K(b, y); break;
                case TensorType.Q3_K: Q3_K(b, y); break;
                case TensorType.Q4_K: Q4_K(b, y); break;
                case TensorType.Q5_K: Q5_K(b, y); break;
                case TensorType.Q6_K: Q6_K(b, y); break;
            }
        }
    }

    /// <summary>Q4_0 {f16 d; u8 qs[16]}: y[j] = d·(lo(qs[j]) − 8), y[j+16] = d·(hi(qs[j]) − 8) (pitfall 28: not interleaved).</summary>
    public static void Q4_0(ReadOnlySpan<byte> b, Span<float> y)
    {
        float d = H(b, 0);
        var qs = b.Slice(2, 16);
        for (int j = 0; j < 16; j++)
        {
            y[j] = ((qs[j] & 0x0F) - 8) * d;
            y[j + 16] = ((qs[j] >> 4) - 8) * d;
        }
    }

    /// <summary>Q4_1 {f16 d; f16 m; u8 qs[16]}: y = q·d + m.</summary>
    public static void Q4_1(ReadOnlySpan<byte> b, Span<float> y)
    {
        float d = H(b, 0), m = H(b, 2);
        var qs = b.Slice(4, 16);
        for (int j = 0; j < 16; j++)
        {
            y[j] = (qs[j] & 0x0F) * d + m;
            y[j + 16] = (qs[j] >> 4) * d + m;
        }
    }

    /// <summary>Q5_0 {f16 d; u8 qh[4]; u8 qs[16]}: 5th bit of element j is bit j of qh (LE u32); y = d·(q − 16).</summary>
    public static void Q5_0(ReadOnlySpan<byte> b, Span<float> y)
    {
        float d = H(b, 0);
        uint qh = BinaryPrimitives.ReadUInt32LittleEndian(b[2..]);
        var qs = b.Slice(6, 16);
        for (int j = 0; j < 16; j++)
        {
            int h0 = (int)((qh >> j) & 1) << 4, h1 = (int)((qh >> (j + 16)) & 1) << 4;
            y[j] = (((qs[j] & 0x0F) | h0) - 16) * d;
            y[j + 16] = (((qs[j] >> 4) | h1) - 16) * d;
        }
    }

    /// <summary>Q5_1 {f16 d; f16 m; u8 qh[4]; u8 qs[16]}: y = d·q + m.</summary>
    public static void Q5_1(ReadOnlySpan<byte> b, Span<float> y)
    {
        float d = H(b, 0), m = H(b, 2);
        uint qh = BinaryPrimitives.ReadUInt32LittleEndian(b[4..]);
        var qs = b.Slice(8, 16);
        for (int j = 0; j < 16; j++)
        {
            int h0 = (int)((qh >> j) & 1) << 4, h1 = (int)((qh >> (j + 16)) & 1) << 4;
            y[j] = ((qs[j] & 0x0F) | h0) * d + m;
            y[j + 16] = ((qs[j] >> 4) | h1) * d + m;
        }
    }

    /// <summary>Q8_0 {f16 d; i8 qs[32]}: y = d·q.</summary>
    public static void Q8_0(ReadOnlySpan<byte> b, Span<float> y)
    {
        float d = H(b, 0);
        for (int j = 0; j < 32; j++) y[j] = (sbyte)b[2 + j] * d;
    }

    /// <summary>
    /// Q2_K {u8 scales[16]; u8 qs[64]; f16 d; f16 dmin}: 16 groups of 16, each with a 4-bit scale (low nibble) and 4-bit
    /// min (high nibble); 2-bit values, 4 per byte: each 128-half uses qs[32], shifting by 0, 2, 4, 6 for 4 × 32 outputs.
    /// </summary>
    public static void Q2_K(ReadOnlySpan<byte> b, Span<float> y)
    {
        var scales = b[..16];
        var qs = b.Slice(16, 64);
        float d = H(b, 80), min = H(b, 82);
        int o = 0, isc = 0;
        for (int half = 0; half < 2; half++)
        {
            var q = qs.Slice(32 * half, 32);
            for (int shift = 0; shift < 8; shift += 2)
                for (int part = 0; part < 2; part++)
                {
                    byte sc = scales[isc++];
                    float dl = d * (sc & 0xF), ml = min * (sc >> 4);
                    for (int l = 0; l < 16; l++) y[o++] = dl * ((q[16 * part + l] >> shift) & 3) - ml;
                }
        }
    }

    /// <summary>
    /// Q3_K {u8 hmask[32]; u8 qs[64]; u8 scales[12]; f16 d}: 16 groups of 16 with 6-bit signed scales (offset 32) packed
    /// in 12 bytes (low 4 bits from bytes 0–7, high 2 bits from bytes 8–11); 2 low bits in qs as in Q2_K, the 3rd bit in
    /// hmask (bit set → +0, clear → −4).
    /// </summary>
    public static void Q3_K(ReadOnlySpan<byte> b, Span<float> y)
    {
        var hm = b[..32];
        var qs = b.Slice(32, 64);
        var sc = b.Slice(96, 12);
        float dAll = H(b, 108);
        Span<int> scale = stackalloc int[16];
        for (int j = 0; j < 16; j++)
        {
            int low = j < 8 ? sc[j] & 0xF : sc[j - 8] >> 4;     // scales 0–7 from low nibbles, 8–15 from high nibbles
            int high = (sc[8 + (j & 3)] >> (2 * (j >> 2))) & 3; // 2 high bits: byte 8 + j%4, bit pair j/4
            scale[j] = (low | (high << 4)) - 32;
        }
        int o = 0, isc = 0;
        int m = 1;
        for (int half = 0; half < 2; half++)
        {
            var q = qs.Slice(32 * half, 32);
            for (int shift = 0; shift < 8; shift += 2)
            {
                for (int part = 0; part < 2; part++)
                {
                    float dl = dAll * scale[isc++];
                    for (int l = 0; l < 16; l++)
                    {
                        int k = 16 * part + l;
                        y[o++] = dl * (((q[k] >> shift) & 3) - ((hm[k] & m) != 0 ? 0 : 4));
                    }
                }
                m <<= 1;
            }
        }
    }

    /// <summary>6-bit scale and min of sub-block j of a Q4_K/Q5_K block (ggml <c>get_scale_min_k4</c>, SPEC.md §5).</summary>
    public static (int Scale, int Min) ScaleMinK4(int j, ReadOnlySpan<byte> s) => j < 4
        ? (s[j] & 63, s[j + 4] & 63)
        : ((s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4), (s[j + 4] >> 4) | ((s[j] >> 6) << 4));

    /// <summary>Q4_K {f16 d; f16 dmin; u8 scales[12]; u8 qs[128]}: 4 chunks of 64 = 32 low nibbles then 32 high nibbles.</summary>
    public static void Q4_K(ReadOnlySpan<byte> b, Span<float> y)
    {
        float d = H(b, 0), min = H(b, 2);
        var scales = b.Slice(4, 12);
        var qs = b.Slice(16, 128);
        for (int c = 0; c < 4; c++)
        {
            var (s1, m1) = ScaleMinK4(2 * c, scales);
            var (s2, m2) = ScaleMinK4(2 * c + 1, scales);
            float d1 = d * s1, mm1 = min * m1, d2 = d * s2, mm2 = min * m2;
            var q = qs.Slice(32 * c, 32);
            for (int l = 0; l < 32; l++) y[64 * c + l] = d1 * (q[l] & 0xF) - mm1;
            for (int l = 0; l < 32; l++) y[64 * c + 32 + l] = d2 * (q[l] >> 4) - mm2;
        }
    }

    /// <summary>Q5_K {f16 d; f16 dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]}: Q4_K plus a 5th bit per element in qh (bit 2c / 2c+1 of qh[l]).</summary>
    public static void Q5_K(ReadOnlySpan<byte> b, Span<float> y)
    {
        float d = H(b, 0), min = H(b, 2);
        var scales = b.Slice(4, 12);
        var qh = b.Slice(16, 32);
        var qs = b.Slice(48, 128);
        for (int c = 0; c < 4; c++)
        {
            var (s1, m1) = ScaleMinK4(2 * c, scales);
            var (s2, m2) = ScaleMinK4(2 * c + 1, scales);
            float d1 = d * s1, mm1 = min * m1, d2 = d * s2, mm2 = min * m2;
            int u1 = 1 << (2 * c), u2 = 2 << (2 * c);
            var q = qs.Slice(32 * c, 32);
            for (int l = 0; l < 32; l++) y[64 * c + l] = d1 * ((q[l] & 0xF) + ((qh[l] & u1) != 0 ? 16 : 0)) - mm1;
            for (int l = 0; l < 32; l++) y[64 * c + 32 + l] = d2 * ((q[l] >> 4) + ((qh[l] & u2) != 0 ? 16 : 0)) - mm2;
        }
    }

    /// <summary>Q6_K {u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d} (d last, pitfall 28): SPEC.md §5 formula.</summary>
    public static void Q6_K(ReadOnlySpan<byte> b, Span<float> y)
    {
        float d = H(b, 208);
        for (int h = 0; h < 2; h++)
        {
            var ql = b.Slice(64 * h, 64);
            var qh = b.Slice(128 + 32 * h, 32);
            var sc = MemoryMarshal.Cast<byte, sbyte>(b.Slice(192 + 8 * h, 8));
            var o = y.Slice(128 * h, 128);
            for (int l = 0; l < 32; l++)
            {
                int isc = l / 16;
                int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                o[l] = d * sc[isc] * q1;
                o[l + 32] = d * sc[isc + 2] * q2;
                o[l + 64] = d * sc[isc + 4] * q3;
                o[l + 96] = d * sc[isc + 6] * q4;
            }
        }
    }
}
