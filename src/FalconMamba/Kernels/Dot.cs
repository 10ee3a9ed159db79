using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace FalconMamba.Kernels;

/// <summary>Dot products of an f32 activation vector with a weight row in each storage type.</summary>
public static unsafe class Dot
{
    /// <summary>Σ a[i]·b[i] in f32 (TensorPrimitives vectorizes with FMA).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float F32(ReadOnlySpan<float> a, ReadOnlySpan<float> b) => TensorPrimitives.Dot(a, b);

    /// <summary>Scalar reference for <see cref="BF16"/>: bf16 → f32 is the 16 bits placed high (SPEC.md §3.3).</summary>
    public static float BF16Scalar(ReadOnlySpan<ushort> w, ReadOnlySpan<float> x)
    {
        float s = 0;
        for (int i = 0; i < x.Length; i++) s += BitConverter.Int32BitsToSingle(w[i] << 16) * x[i];
        return s;
    }

    /// <summary>
    /// 8 bf16 values widened to f32: zero-extend each u16 to u32 (vpmovzxwd straight from memory) and shift it into
    /// the high half. Why not Vector256.Widen: it loads 16 values and permutes across lanes, measured 2.6× slower.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> LoadBF16x8(ushort* p) => Avx2.IsSupported
        ? Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32(p), 16).AsSingle()
        : Vector256.ShiftLeft(Vector256.WidenLower(Vector128.Load(p).ToVector256Unsafe()), 16).AsSingle();

    /// <summary>
    /// Σ bf16(w[i])·x[i] in the canonical arithmetic of the product kernels (see <see cref="Row{TW}"/>).
    /// </summary>
    public static float BF16(ReadOnlySpan<ushort> w, ReadOnlySpan<float> x)
    {
        if (w.Length < x.Length) throw new ArgumentException($"weight row has {w.Length} values, activations {x.Length}");
        fixed (ushort* pw = w)
        fixed (float* px = x)
            return Row<Bf16>(pw, px, x.Length);
    }

    /// <summary>Scalar reference for <see cref="F16"/>.</summary>
    public static float F16Scalar(ReadOnlySpan<Half> w, ReadOnlySpan<float> x)
    {
        float s = 0;
        for (int i = 0; i < x.Length; i++) s += (float)w[i] * x[i];
        return s;
    }

    /// <summary>
    /// 8 binary16 values widened to f32 without F16C (which .NET does not expose). Sign-extend each u16 to 32 bits
    /// (vpmovsxwd straight from memory) and shift left by 13: the sign lands on bit 31 (and on 30–28, cleared by the
    /// mask), the exponent on 27–23 and the mantissa on 22–13, so one multiply by 2^112 rebiases the exponent (15 → 127)
    /// with the sign already in place, and turns f16 subnormals into the right f32 normals. Inf/NaN (exponent 31) come
    /// out of the multiply as 2^16·1.m and get the f32 all-ones exponent OR-ed in. Exact for every f16 value (the
    /// kernel tests check all 65,536 against (float)Half); 6 vector operations where zero-extension and putting the
    /// sign back apart took 11.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> LoadF16x8(ushort* p)
    {
        Vector256<uint> t = Avx2.IsSupported
            ? Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32((short*)p), 13).AsUInt32()
            : Vector256.ShiftLeft(Vector256.WidenLower(Vector128.Load((short*)p).ToVector256Unsafe()), 13).AsUInt32();
        var exponent = t & Vector256.Create(0x0F800000u);
        var value = (t & Vector256.Create(0x8FFFE000u)).AsSingle() * Vector256.Create(5.192296858534828e33f); // 2^112
        var infNan = Vector256.Equals(exponent, Vector256.Create(0x0F800000u)) & Vector256.Create(0x7F800000u);
        return (value.AsUInt32() | infNan).AsSingle();
    }

    /// <summary>
    /// <see cref="LoadF16x8"/> for values known to be finite (no exponent 31): sign-extend, shift, mask, multiply by
    /// 2^112 — four operations, the same floats as <see cref="LoadF16x8"/> gives for every finite f16. F16 matrices check
    /// their values once when created (<see cref="F16Matrix"/>) and use this in decode, where widening bounds the speed.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> LoadF16x8Finite(ushort* p)
    {
        Vector256<uint> t = Avx2.IsSupported
            ? Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32((short*)p), 13).AsUInt32()
            : Vector256.ShiftLeft(Vector256.WidenLower(Vector128.Load((short*)p).ToVector256Unsafe()), 13).AsUInt32();
        return (t & Vector256.Create(0x8FFFE000u)).AsSingle() * Vector256.Create(5.192296858534828e33f); // 2^112
    }

    /// <summary>
    /// A finite f16 value's bits placed as an f32 whose value is w·2^-112 (<see cref="LoadF16x8Finite"/> without its
    /// multiply): three operations. Multiplied by activations pre-scaled by 2^112 (exact while |x| &lt; 2^15), every
    /// product w·x is the same real number, so FMAs and sums give the same bits as the unscaled kernel.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> LoadF16x8Scaled(ushort* p)
    {
        Vector256<uint> t = Avx2.IsSupported
            ? Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32((short*)p), 13).AsUInt32()
            : Vector256.ShiftLeft(Vector256.WidenLower(Vector128.Load((short*)p).ToVector256Unsafe()), 13).AsUInt32();
        return (t & Vector256.Create(0x8FFFE000u)).AsSingle();
    }

    /// <summary>True when no value of the f16 array has exponent 31 (±inf or NaN); vectorised, used once per matrix.</summary>
    internal static bool AllFiniteF16(ushort* p, long n)
    {
        long i = 0;
        var acc = Vector256<ushort>.Zero;
        var e = Vector256.Create((ushort)0x7C00);
        for (; i + 16 <= n; i += 16)
            acc |= Vector256.Equals(Vector256.Load(p + i) & e, e);
        if (acc != Vector256<ushort>.Zero) return false;
        for (; i < n; i++) if ((p[i] & 0x7C00) == 0x7C00) return false;
        return true;
    }

    /// <summary>Σ f16(w[i])·x[i], in the canonical arithmetic (see <see cref="Row{TW}"/>).</summary>
    public static float F16(ReadOnlySpan<Half> w, ReadOnlySpan<float> x)
    {
        if (w.Length < x.Length) throw new ArgumentException($"weight row has {w.Length} values, activations {x.Length}");
        fixed (Half* pw = w)
        fixed (float* px = x)
            return Row<F16Bits>((ushort*)pw, px, x.Length);
    }

    /// <summary>Widens f16 to f32 (8 at a time, see <see cref="LoadF16x8"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void F16ToF32(ReadOnlySpan<Half> src, Span<float> dst)
    {
        if (dst.Length < src.Length) throw new ArgumentException($"destination holds {dst.Length} values, source {src.Length}");
        int i = 0, n = src.Length;
        fixed (Half* ps = src)
        fixed (float* pd = dst)
        {
            ushort* p = (ushort*)ps;
            if (Vector256.IsHardwareAccelerated)
                for (; i + 8 <= n; i += 8) LoadF16x8(p + i).Store(pd + i);
            for (; i < n; i++) pd[i] = (float)ps[i];
        }
    }

    /// <summary>Widens bf16 to f32 (vectorized shift, 8 at a time).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void BF16ToF32(ReadOnlySpan<ushort> src, Span<float> dst)
    {
        if (dst.Length < src.Length) throw new ArgumentException($"destination holds {dst.Length} values, source {src.Length}");
        int i = 0, n = src.Length;
        fixed (ushort* ps = src)
        fixed (float* pd = dst)
        {
            if (Vector256.IsHardwareAccelerated)
                for (; i + 8 <= n; i += 8) LoadBF16x8(ps + i).Store(pd + i);
            for (; i < n; i++) pd[i] = BitConverter.Int32BitsToSingle(ps[i] << 16);
        }
    }

    /// <summary>
    /// Rows at most this long (f32 activations of at most 8 KiB, a quarter of L1d) are multiplied one row after
    /// another; longer rows eight at a time. Why (FalconMamba.Bench decode-layout, bf16 weights from DRAM):
    /// with short rows the activation vector stays in L1 and one sequential weight stream is what the hardware
    /// prefetcher follows best — 768 columns, 2 threads: one row at a time 28–31 GB/s, eight interleaved rows
    /// 14–17 GB/s (eight streams of only 1.5 KiB each). With long rows x no longer fits in L1 next to the streaming
    /// weights, and sharing each x load among eight rows wins: 8192 columns, 2 threads: 27–33 GB/s against 17–18.
    /// </summary>
    internal const int OneRowMaxCols = 2048;

    /// <summary>
    /// Decode kernel: y[r − rowStart] = Σ_i W[r, i]·x[i] for rows [rowStart, rowEnd) of a row-major 16-bit matrix
    /// (bf16 or f16 by <typeparamref name="TW"/>) with <paramref name="cols"/> columns. Short rows as two sequential
    /// streams (row j of each half of the range together: two independent FMA chains, which lifted 130M-shape decode
    /// 8–10 % over one row at a time, bf16 and f16, A/B on this machine; four streams were no better), long rows eight
    /// (then four) at a time sharing each activation load (see <see cref="OneRowMaxCols"/>); all keep one FMA chain per
    /// row, the canonical arithmetic of <see cref="Row{TW}"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Rows<TW>(ushort* w, int cols, ReadOnlySpan<float> x, Span<float> y, int rowStart, int rowEnd) where TW : struct, IWiden16
    {
        if (x.Length < cols || y.Length < rowEnd - rowStart) throw new ArgumentException("activation or output span too short");
        fixed (float* px = x)
        fixed (float* py = y)
        {
            int r = rowStart;
            if (Vector256.IsHardwareAccelerated && cols > OneRowMaxCols)
            {
                for (; r + 8 <= rowEnd; r += 8) Rows8<TW>(w + (long)r * cols, cols, px, py + (r - rowStart));
                for (; r + 4 <= rowEnd; r += 4) Rows4<TW>(w + (long)r * cols, cols, px, py + (r - rowStart));
            }
            else if (Vector256.IsHardwareAccelerated && rowEnd - rowStart >= 2)
            {
                // two sequential streams, one from each half of the range: each row still one FMA chain (the canonical
                // order), but two independent chains in flight, so the FMA latency no longer bounds a core
                int half = (rowEnd - rowStart) / 2;
                for (int j = 0; j < half; j++)
                    Rows2Apart<TW>(w + (long)(rowStart + j) * cols, w + (long)(rowStart + half + j) * cols, cols, px, py + j, py + half + j);
                r = rowStart + 2 * half;
            }
            for (; r < rowEnd; r++) py[r - rowStart] = Row<TW>(w + (long)r * cols, px, cols);
        }
    }

    /// <summary>
    /// One row in the canonical arithmetic every product kernel shares (this one, <see cref="Rows4{TW}"/>, the f32
    /// kernels and <see cref="MatMul"/>'s tiles): one Vector256 FMA accumulator over steps of 8, Vector256.Sum,
    /// then a scalar tail s += w·x. Widening bf16/f16 is exact, so a product gives the same bits in decode and in
    /// the tiled prefill, and whichever thread split decides which kernel computes a row.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static float Row<TW>(ushort* pw, float* px, int n) where TW : struct, IWiden16
    {
        int i = 0;
        float sum = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var acc = Vector256<float>.Zero;
            for (; i + 8 <= n; i += 8) acc = Vector256.FusedMultiplyAdd(TW.Load8(pw + i), Vector256.Load(px + i), acc);
            sum = Vector256.Sum(acc);
        }
        for (; i < n; i++) sum += TW.ToSingle(pw[i]) * px[i];
        return sum;
    }

    /// <summary>Two rows from different places (two sequential streams), one FMA chain each, in the canonical order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Rows2Apart<TW>(ushort* w0, ushort* w1, int n, float* px, float* y0, float* y1) where TW : struct, IWiden16
    {
        Vector256<float> a0 = default, a1 = default;
        int i = 0;
        for (; i + 8 <= n; i += 8)
        {
            var xv = Vector256.Load(px + i);
            a0 = Vector256.FusedMultiplyAdd(TW.Load8(w0 + i), xv, a0);
            a1 = Vector256.FusedMultiplyAdd(TW.Load8(w1 + i), xv, a1);
        }
        float s0 = Vector256.Sum(a0), s1 = Vector256.Sum(a1);
        for (; i < n; i++) { s0 += TW.ToSingle(w0[i]) * px[i]; s1 += TW.ToSingle(w1[i]) * px[i]; }
        *y0 = s0; *y1 = s1;
    }

    /// <summary>Eight rows: eight independent FMA chains hide the FMA latency on short rows; same per-row arithmetic.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Rows8<TW>(ushort* w, int n, float* px, float* y) where TW : struct, IWiden16
    {
        long n1 = n;
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        int i = 0;
        for (; i + 8 <= n; i += 8)
        {
            var xv = Vector256.Load(px + i);
            ushort* p = w + i;
            a0 = Vector256.FusedMultiplyAdd(TW.Load8(p), xv, a0);
            a1 = Vector256.FusedMultiplyAdd(TW.Load8(p + n1), xv, a1);
            a2 = Vector256.FusedMultiplyAdd(TW.Load8(p + 2 * n1), xv, a2);
            a3 = Vector256.FusedMultiplyAdd(TW.Load8(p + 3 * n1), xv, a3);
            a4 = Vector256.FusedMultiplyAdd(TW.Load8(p + 4 * n1), xv, a4);
            a5 = Vector256.FusedMultiplyAdd(TW.Load8(p + 5 * n1), xv, a5);
            a6 = Vector256.FusedMultiplyAdd(TW.Load8(p + 6 * n1), xv, a6);
            a7 = Vector256.FusedMultiplyAdd(TW.Load8(p + 7 * n1), xv, a7);
        }
        y[0] = Vector256.Sum(a0); y[1] = Vector256.Sum(a1); y[2] = Vector256.Sum(a2); y[3] = Vector256.Sum(a3);
        y[4] = Vector256.Sum(a4); y[5] = Vector256.Sum(a5); y[6] = Vector256.Sum(a6); y[7] = Vector256.Sum(a7);
        for (; i < n; i++)
        {
            float xv = px[i];
            for (int r = 0; r < 8; r++) y[r] += TW.ToSingle(w[r * n1 + i]) * xv;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Rows4<TW>(ushort* w, int n, float* px, float* y) where TW : struct, IWiden16
    {
        ushort* w0 = w, w1 = w + n, w2 = w + 2 * (long)n, w3 = w + 3 * (long)n;
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        int i = 0;
        for (; i + 8 <= n; i += 8)
        {
            var xv = Vector256.Load(px + i);
            a0 = Vector256.FusedMultiplyAdd(TW.Load8(w0 + i), xv, a0);
            a1 = Vector256.FusedMultiplyAdd(TW.Load8(w1 + i), xv, a1);
            a2 = Vector256.FusedMultiplyAdd(TW.Load8(w2 + i), xv, a2);
            a3 = Vector256.FusedMultiplyAdd(TW.Load8(w3 + i), xv, a3);
        }
        float s0 = Vector256.Sum(a0), s1 = Vector256.Sum(a1), s2 = Vector256.Sum(a2), s3 = Vector256.Sum(a3);
        for (; i < n; i++)
        {
            float xv = px[i];
            s0 += TW.ToSingle(w0[i]) * xv;
            s1 += TW.ToSingle(w1[i]) * xv;
            s2 += TW.ToSingle(w2[i]) * xv;
            s3 += TW.ToSingle(w3[i]) * xv;
        }
        y[0] = s0; y[1] = s1; y[2] = s2; y[3] = s3;
    }

    /// <summary>f32 decode kernel: the same as <see cref="Rows{TW}"/> on f32 rows (short rows one at a time, long rows four at a time).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void RowsF32(float* w, int cols, float* px, float* py, int count)
    {
        int r = 0;
        if (Vector256.IsHardwareAccelerated && cols > OneRowMaxCols)
            for (; r + 4 <= count; r += 4) Rows4F32(w + (long)r * cols, cols, px, py + r);
        for (; r < count; r++) py[r] = RowF32(w + (long)r * cols, px, cols);
    }

    /// <summary>One f32 row in the canonical arithmetic (see <see cref="Row{TW}"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static float RowF32(float* w, float* x, int n)
    {
        int i = 0;
        float s = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var acc = Vector256<float>.Zero;
            for (; i + 8 <= n; i += 8) acc = Vector256.FusedMultiplyAdd(Vector256.Load(w + i), Vector256.Load(x + i), acc);
            s = Vector256.Sum(acc);
        }
        for (; i < n; i++) s += w[i] * x[i];
        return s;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Rows4F32(float* w, int n, float* px, float* y)
    {
        float* w0 = w, w1 = w + n, w2 = w + 2 * (long)n, w3 = w + 3 * (long)n;
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        int i = 0;
        for (; i + 8 <= n; i += 8)
        {
            var xv = Vector256.Load(px + i);
            a0 = Vector256.FusedMultiplyAdd(Vector256.Load(w0 + i), xv, a0);
            a1 = Vector256.FusedMultiplyAdd(Vector256.Load(w1 + i), xv, a1);
            a2 = Vector256.FusedMultiplyAdd(Vector256.Load(w2 + i), xv, a2);
            a3 = Vector256.FusedMultiplyAdd(Vector256.Load(w3 + i), xv, a3);
        }
        float s0 = Vector256.Sum(a0), s1 = Vector256.Sum(a1), s2 = Vector256.Sum(a2), s3 = Vector256.Sum(a3);
        for (; i < n; i++)
        {
            float xv = px[i];
            s0 += w0[i] * xv; s1 += w1[i] * xv; s2 += w2[i] * xv; s3 += w3[i] * xv;
        }
        y[0] = s0; y[1] = s1; y[2] = s2; y[3] = s3;
    }
}

/// <summary>How a 16-bit float format widens to f32 (a struct type argument, so the JIT specialises the kernels: no calls).</summary>
internal unsafe interface IWiden16
{
    /// <summary>8 values at p as f32.</summary>
    static abstract Vector256<float> Load8(ushort* p);
    /// <summary>One value as f32 (the scalar tail).</summary>
    static abstract float ToSingle(ushort bits);
}

/// <summary>bf16: the high half of an f32.</summary>
internal readonly unsafe struct Bf16 : IWiden16
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Load8(ushort* p) => Dot.LoadBF16x8(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float ToSingle(ushort bits) => BitConverter.Int32BitsToSingle(bits << 16);
}

/// <summary>Finite binary16 as w·2^-112, for activations pre-scaled by 2^112 (see <see cref="Dot.LoadF16x8Scaled"/>).</summary>
internal readonly unsafe struct F16ScaledBits : IWiden16
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Load8(ushort* p) => Dot.LoadF16x8Scaled(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float ToSingle(ushort bits) => BitConverter.Int32BitsToSingle(((short)bits << 13) & unchecked((int)0x8FFFE000));
}

/// <summary>IEEE binary16, finite values only (see <see cref="Dot.LoadF16x8Finite"/>).</summary>
internal readonly unsafe struct F16FiniteBits : IWiden16
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Load8(ushort* p) => Dot.LoadF16x8Finite(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float ToSingle(ushort bits) => (float)BitConverter.UInt16BitsToHalf(bits);
}

/// <summary>IEEE binary16.</summary>
internal readonly unsafe struct F16Bits : IWiden16
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Load8(ushort* p) => Dot.LoadF16x8(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float ToSingle(ushort bits) => (float)BitConverter.UInt16BitsToHalf(bits);
}
