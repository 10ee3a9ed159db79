using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace FalconMamba.Kernels.Quantized;

/// <summary>
/// Dot products of one quantized weight row with one row of 8-bit activations, integer multiply-adds per block and
/// one f32 scale product per block (ggml <c>ggml_vec_dot_q8_0_q8_0</c>, <c>_q4_0_q8_0</c>, <c>_q4_K_q8_K</c>,
/// <c>_q6_K_q8_K</c>). Each fast kernel has its scalar reference beside it.
/// </summary>
public static unsafe class QuantDot
{
    /// <summary>
    /// f16 → f32 for every bit pattern (256 KiB, never freed), as ggml's <c>ggml_table_f32_f16</c>: the software Half
    /// conversion costs more than a block's integer dot. Native memory read through a pointer each kernel copies into a
    /// local on entry: a static array read inside the loop made the JIT, when it compiled a kernel before this class was
    /// initialised, keep the class-init helper call in the loop and spill every vector accumulator around it (Q4_0
    /// decode ran at half speed when it happened to be the first kernel compiled).
    /// </summary>
    static readonly float* F16Table = CreateF16Table();
    static float* CreateF16Table()
    {
        var t = (float*)NativeMemory.AlignedAlloc(65536 * sizeof(float), 64);
        for (int i = 0; i < 65536; i++) t[i] = (float)BitConverter.UInt16BitsToHalf((ushort)i);
        return t;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static float H(float* table, byte* p) => table[*(ushort*)p];

    // ---- Q8_0 weights × Q8_0 activations -------------------------------------------------------------------

    /// <summary>Scalar reference: Σ_b d_w·d_x·Σ_j w_j·a_j. w: nb blocks of 34 bytes; a: nb·32 values; ad: nb scales.</summary>
    public static float Q8_0Scalar(byte* w, sbyte* a, float* ad, int nb)
    {
        float* tab = F16Table;
        float sum = 0;
        for (int b = 0; b < nb; b++, w += 34, a += 32)
        {
            int s = 0;
            for (int j = 0; j < 32; j++) s += (sbyte)w[2 + j] * a[j];
            sum += H(tab, w) * ad[b] * s;
        }
        return sum;
    }

    /// <summary>Q8_0 · Q8_0, 32 bytes per block in one 256-bit multiply-add.</summary>
    public static float Q8_0(byte* w, sbyte* a, float* ad, int nb)
    {
        float* tab = F16Table;
        if (!Vector256.IsHardwareAccelerated) return Q8_0Scalar(w, a, ad, nb);
        var acc = Vector256<float>.Zero;
        for (int b = 0; b < nb; b++, w += 34, a += 32)
        {
            var qw = Vector256.Load((sbyte*)(w + 2));
            var qa = Vector256.Load(a);
            acc = Vector256.FusedMultiplyAdd(Vector256.Create(H(tab, w) * ad[b]), Vector256.ConvertToSingle(DotI8(qw, qa)), acc);
        }
        return Vector256.Sum(acc);
    }

    /// <summary>
    /// <see cref="Q8_0"/> for four tokens (activations <paramref name="lda"/> bytes apart, scales lda/32 apart) against one
    /// weight row: each block's weights and scale are loaded once, then each token does exactly Q8_0's operations, so
    /// y[j·ldy] equals Q8_0(w, a + j·lda, …) bit for bit (prefill: the row stays in registers/L1 across tokens).
    /// </summary>
    public static void Q8_0x4(byte* w, sbyte* a, float* ad, int nb, int lda, float* y, int ldy) => Tokens4<Q8_0Block>(w, a, ad, nb, lda, y, ldy);

    /// <summary><see cref="Q4_0"/> for four tokens: each block's nibbles unpacked once (see <see cref="Q8_0x4"/>).</summary>
    public static void Q4_0x4(byte* w, sbyte* a, float* ad, int nb, int lda, float* y, int ldy) => Tokens4<Q4_0Block>(w, a, ad, nb, lda, y, ldy);

    /// <summary>A 32-value block type whose values widen to signed bytes (a struct type argument: the JIT specialises).</summary>
    interface IBlock32
    {
        /// <summary>Bytes per block.</summary>
        static abstract int Bytes { get; }
        /// <summary>The block's 32 values as signed bytes, in the activations' order.</summary>
        static abstract Vector256<sbyte> Values(byte* block);
        /// <summary>The scalar kernel (fallback without AVX2).</summary>
        static abstract float Dot(byte* w, sbyte* a, float* ad, int nb);
    }

    readonly struct Q8_0Block : IBlock32
    {
        public static int Bytes => 34;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<sbyte> Values(byte* block) => Vector256.Load((sbyte*)(block + 2));
        public static float Dot(byte* w, sbyte* a, float* ad, int nb) => Q8_0(w, a, ad, nb);
    }

    readonly struct Q4_0Block : IBlock32
    {
        public static int Bytes => 18;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<sbyte> Values(byte* block) => Nibbles(block + 2);
        public static float Dot(byte* w, sbyte* a, float* ad, int nb) => Q4_0(w, a, ad, nb);
    }

    /// <summary>One token's step of the shared-weight kernels: acc + (d_w·d_x)·Σ w·a over the block, as Q8_0 does it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> Step(Vector256<float> acc, Vector256<float> hw, float* da, Vector256<byte> ax, Vector256<sbyte> qw, sbyte* a) =>
        Vector256.FusedMultiplyAdd(hw * Vector256.Create(*da), Vector256.ConvertToSingle(DotAbs(ax, qw, Vector256.Load(a))), acc);

    /// <summary>
    /// <see cref="Q8_0x4"/> for two weight rows (<paramref name="w1"/> the second) at once: each
    /// activation block and its scale are loaded once for both rows (half the activation traffic from L2), each row and
    /// token keeping exactly the one-row kernel's operations, so every output has the same bits.
    /// y0[j·ldy] is row 0's output for token j, y1[j·ldy] row 1's.
    /// </summary>
    public static void Rows2Tokens4Q8_0(byte* w0, byte* w1, sbyte* a, float* ad, int nb, int lda, float* y0, float* y1, int ldy) =>
        Rows2Tokens4<Q8_0Block>(w0, w1, a, ad, nb, lda, y0, y1, ldy);

    static void Rows2Tokens4<TB>(byte* w0, byte* w1, sbyte* a, float* ad, int nb, int lda, float* y0, float* y1, int ldy) where TB : struct, IBlock32
    {
        if (!Avx2.IsSupported) { Tokens4<TB>(w0, a, ad, nb, lda, y0, ldy); Tokens4<TB>(w1, a, ad, nb, lda, y1, ldy); return; }
        int ldd = lda / 32;
        float* tab = F16Table;
        Vector256<float> c0 = default, c1 = default, c2 = default, c3 = default, e0 = default, e1 = default, e2 = default, e3 = default;
        for (int b = 0; b < nb; b++, w0 += TB.Bytes, w1 += TB.Bytes)
        {
            var q0 = TB.Values(w0); var x0 = Avx2.Abs(q0); var h0 = Vector256.Create(H(tab, w0));
            var q1 = TB.Values(w1); var x1 = Avx2.Abs(q1); var h1 = Vector256.Create(H(tab, w1));
            sbyte* ab = a + b * 32;
            float* db = ad + b;
            var av = Vector256.Load(ab); var dv = Vector256.Create(*db);
            c0 = Vector256.FusedMultiplyAdd(h0 * dv, Vector256.ConvertToSingle(DotAbs(x0, q0, av)), c0);
            e0 = Vector256.FusedMultiplyAdd(h1 * dv, Vector256.ConvertToSingle(DotAbs(x1, q1, av)), e0);
            av = Vector256.Load(ab + lda); dv = Vector256.Create(db[ldd]);
            c1 = Vector256.FusedMultiplyAdd(h0 * dv, Vector256.ConvertToSingle(DotAbs(x0, q0, av)), c1);
            e1 = Vector256.FusedMultiplyAdd(h1 * dv, Vector256.ConvertToSingle(DotAbs(x1, q1, av)), e1);
            av = Vector256.Load(ab + 2L * lda); dv = Vector256.Create(db[2 * ldd]);
            c2 = Vector256.FusedMultiplyAdd(h0 * dv, Vector256.ConvertToSingle(DotAbs(x0, q0, av)), c2);
            e2 = Vector256.FusedMultiplyAdd(h1 * dv, Vector256.ConvertToSingle(DotAbs(x1, q1, av)), e2);
            av = Vector256.Load(ab + 3L * lda); dv = Vector256.Create(db[3 * ldd]);
            c3 = Vector256.FusedMultiplyAdd(h0 * dv, Vector256.ConvertToSingle(DotAbs(x0, q0, av)), c3);
            e3 = Vector256.FusedMultiplyAdd(h1 * dv, Vector256.ConvertToSingle(DotAbs(x1, q1, av)), e3);
        }
        y0[0] = Vector256.Sum(c0); y0[ldy] = Vector256.Sum(c1); y0[2L * ldy] = Vector256.Sum(c2); y0[3L * ldy] = Vector256.Sum(c3);
        y1[0] = Vector256.Sum(e0); y1[ldy] = Vector256.Sum(e1); y1[2L * ldy] = Vector256.Sum(e2); y1[3L * ldy] = Vector256.Sum(e3);
    }

    static void Tokens4<TB>(byte* w, sbyte* a, float* ad, int nb, int lda, float* y, int ldy) where TB : struct, IBlock32
    {
        int ldd = lda / 32;
        if (!Avx2.IsSupported) { for (int j = 0; j < 4; j++) y[(long)j * ldy] = TB.Dot(w, a + (long)j * lda, ad + (long)j * ldd, nb); return; }
        float* tab = F16Table;
        Vector256<float> c0 = default, c1 = default, c2 = default, c3 = default;
        for (int b = 0; b < nb; b++, w += TB.Bytes)
        {
            var qw = TB.Values(w);
            var ax = Avx2.Abs(qw);
            var hw = Vector256.Create(H(tab, w));   // broadcast once; each token's scale is a broadcast load × hw (the same product as d_w·d_x)
            sbyte* ab = a + b * 32;
            float* db = ad + b;
            c0 = Step(c0, hw, db, ax, qw, ab);
            c1 = Step(c1, hw, db + ldd, ax, qw, ab + lda);
            c2 = Step(c2, hw, db + 2 * ldd, ax, qw, ab + 2L * lda);
            c3 = Step(c3, hw, db + 3 * ldd, ax, qw, ab + 3L * lda);
        }
        y[0] = Vector256.Sum(c0); y[ldy] = Vector256.Sum(c1); y[2L * ldy] = Vector256.Sum(c2); y[3L * ldy] = Vector256.Sum(c3);
    }

    /// <summary>
    /// <see cref="Q8_0"/> of two weight rows with the same activations, in one loop: two independent accumulation chains
    /// (a single row's chain is bound by the FMA latency, one 34-byte block per 4 cycles), each row's operations and
    /// order exactly Q8_0's, so each result equals Q8_0(w, …) bit for bit; the activation block is loaded once.
    /// </summary>
    public static (float, float) Q8_0Rows2(byte* w0, byte* w1, sbyte* a, float* ad, int nb)
    {
        float* tab = F16Table;
        if (!Avx2.IsSupported) return (Q8_0(w0, a, ad, nb), Q8_0(w1, a, ad, nb));
        Vector256<float> c0 = default, c1 = default;
        for (int b = 0; b < nb; b++, w0 += 34, w1 += 34, a += 32)
        {
            var qa = Vector256.Load(a);
            var da = Vector256.Create(ad[b]);
            c0 = Vector256.FusedMultiplyAdd((Vector256.Create(H(tab, w0)) * da), Vector256.ConvertToSingle(DotI8(Vector256.Load((sbyte*)(w0 + 2)), qa)), c0);
            c1 = Vector256.FusedMultiplyAdd((Vector256.Create(H(tab, w1)) * da), Vector256.ConvertToSingle(DotI8(Vector256.Load((sbyte*)(w1 + 2)), qa)), c1);
        }
        return (Vector256.Sum(c0), Vector256.Sum(c1));
    }

    /// <summary>
    /// <see cref="Q4_0"/> of two weight rows with the same activations (see <see cref="Q8_0Rows2"/>). The nibbles stay
    /// unsigned (0..15) so vpmaddubsw takes them directly; the −8 comes back in int16 as 8·(a_2i + a_2i+1), computed once
    /// per activation block for both rows: (u·a pair sum) − 8·(a pair sum) = ((u − 8)·a pair sum) exactly (|·| ≤ 2·8·128),
    /// so each row's int32 lanes, and everything after them, equal <see cref="DotI8"/>'s on the signed nibbles.
    /// </summary>
    public static (float, float) Q4_0Rows2(byte* w0, byte* w1, sbyte* a, float* ad, int nb)
    {
        float* tab = F16Table;
        if (!Avx2.IsSupported) return (Q4_0(w0, a, ad, nb), Q4_0(w1, a, ad, nb));
        Vector256<float> c0 = default, c1 = default;
        var eights = Vector256.Create((byte)8);
        for (int b = 0; b < nb; b++, w0 += 18, w1 += 18, a += 32)
        {
            var qa = Vector256.Load(a);
            var off = Avx2.MultiplyAddAdjacent(eights, qa);
            var da = Vector256.Create(ad[b]);
            var p0 = Q4_0Lanes(w0, qa, off);
            var p1 = Q4_0Lanes(w1, qa, off);
            c0 = Vector256.FusedMultiplyAdd((Vector256.Create(H(tab, w0)) * da), Vector256.ConvertToSingle(p0), c0);
            c1 = Vector256.FusedMultiplyAdd((Vector256.Create(H(tab, w1)) * da), Vector256.ConvertToSingle(p1), c1);
        }
        return (Vector256.Sum(c0), Vector256.Sum(c1));
    }

    /// <summary>
    /// The 8 int32 lanes of a Q4_0 block (at <paramref name="block"/>) times its activations <paramref name="qa"/>, given
    /// off = 8·(pair sums of qa): unsigned nibbles through vpmaddubsw, the −8 taken back in int16, pairs added by vpmaddwd.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<int> Q4_0Lanes(byte* block, Vector256<sbyte> qa, Vector256<short> off) =>
        Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(UnsignedNibbles(block + 2), qa) - off, Vector256.Create((short)1));

    /// <summary>
    /// A Q4_0 block's 16 bytes as 32 unsigned values 0..15 (AVX2): low nibbles are elements 0–15, high nibbles 16–31.
    /// The 16 bytes are broadcast to both halves (one load) and only the upper half's dwords shift right by 4 (vpsrlvd),
    /// then one mask: two ALU operations where unpacking each half apart and joining them takes four.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<byte> UnsignedNibbles(byte* q)
    {
        var raw = Avx2.BroadcastVector128ToVector256(q).AsUInt32();
        return Avx2.ShiftRightLogicalVariable(raw, Vector256.Create(0u, 0, 0, 0, 4, 4, 4, 4)).AsByte() & Vector256.Create((byte)0x0F);
    }

    /// <summary>A Q4_0 block's 16 bytes as 32 signed values: low nibbles are elements 0–15, high nibbles 16–31, minus 8.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<sbyte> Nibbles(byte* q)
    {
        if (Avx2.IsSupported) return UnsignedNibbles(q).AsSByte() - Vector256.Create((sbyte)8);
        var raw = Vector128.Load(q);
        return Vector256.Create(raw & Vector128.Create((byte)0x0F), Vector128.ShiftRightLogical(raw, 4)).AsSByte() - Vector256.Create((sbyte)8);
    }

    /// <summary><see cref="DotI8"/>(x, y) with |x| already computed (AVX2 only): the same instructions after the abs.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<int> DotAbs(Vector256<byte> ax, Vector256<sbyte> x, Vector256<sbyte> y)
    {
        var sy = Avx2.Sign(y, x);
        if (AvxVnni.IsSupported) return AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, ax, sy);
        var p16 = Avx2.MultiplyAddAdjacent(ax, sy);
        return Avx2.MultiplyAddAdjacent(p16, Vector256.Create((short)1));
    }

    // ---- Q4_0 weights × Q8_0 activations -------------------------------------------------------------------

    /// <summary>Scalar reference: low nibbles are elements 0–15, high nibbles 16–31, each minus 8.</summary>
    public static float Q4_0Scalar(byte* w, sbyte* a, float* ad, int nb)
    {
        float* tab = F16Table;
        float sum = 0;
        for (int b = 0; b < nb; b++, w += 18, a += 32)
        {
            int s = 0;
            for (int j = 0; j < 16; j++)
                s += ((w[2 + j] & 0xF) - 8) * a[j] + ((w[2 + j] >> 4) - 8) * a[j + 16];
            sum += H(tab, w) * ad[b] * s;
        }
        return sum;
    }

    /// <summary>Q4_0 · Q8_0: unsigned nibbles times the activations with the −8 folded back in int16 (see <see cref="Q4_0Rows2"/>).</summary>
    public static float Q4_0(byte* w, sbyte* a, float* ad, int nb)
    {
        float* tab = F16Table;
        if (!Vector256.IsHardwareAccelerated) return Q4_0Scalar(w, a, ad, nb);
        var acc = Vector256<float>.Zero;
        if (!Avx2.IsSupported)
        {
            for (int b = 0; b < nb; b++, w += 18, a += 32)
                acc = Vector256.FusedMultiplyAdd(Vector256.Create(H(tab, w) * ad[b]), Vector256.ConvertToSingle(DotI8(Nibbles(w + 2), Vector256.Load(a))), acc);
            return Vector256.Sum(acc);
        }
        var eights = Vector256.Create((byte)8);
        for (int b = 0; b < nb; b++, w += 18, a += 32)
        {
            var qa = Vector256.Load(a);
            var p = Q4_0Lanes(w, qa, Avx2.MultiplyAddAdjacent(eights, qa));
            acc = Vector256.FusedMultiplyAdd(Vector256.Create(H(tab, w) * ad[b]), Vector256.ConvertToSingle(p), acc);
        }
        return Vector256.Sum(acc);
    }

    /// <summary>
    /// 8 partial int32 sums of x·y over 32 signed bytes. AVX-VNNI: vpdpbusd on |x| and sign(y, x); AVX2: the same with
    /// vpmaddubsw + vpmaddwd (|x| ≤ 128 and |y| ≤ 127, so the i16 pair sums cannot saturate); otherwise widen to i16.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<int> DotI8(Vector256<sbyte> x, Vector256<sbyte> y)
    {
        if (Avx2.IsSupported)
        {
            var ax = Avx2.Abs(x);                 // |x| as unsigned bytes
            var sy = Avx2.Sign(y, x);             // y with x's sign (0 where x = 0)
            if (AvxVnni.IsSupported) return AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, ax, sy);
            var p16 = Avx2.MultiplyAddAdjacent(ax, sy);
            return Avx2.MultiplyAddAdjacent(p16, Vector256.Create((short)1));
        }
        var (x0, x1) = Vector256.Widen(x);
        var (y0, y1) = Vector256.Widen(y);
        var (p0, p1) = Vector256.Widen(x0 * y0);
        var (p2, p3) = Vector256.Widen(x1 * y1);
        return p0 + p1 + p2 + p3;
    }

    // ---- K-quants × Q8_K activations ---------------------------------------------------------------

    /// <summary>Scalar reference for <see cref="Q4_K"/>.</summary>
    public static float Q4_KScalar(byte* w, sbyte* a, float* ad, int* bsums, int nb) => Q4_KCore(w, a, ad, bsums, nb, simd: false);

    /// <summary>
    /// Q4_K · Q8_K: per super-block d_x·(d·Σ_j sc_j·Σ q4·q8 − dmin·Σ_j m_j·bsum_j) with bsum_j the Q8_K sums of the
    /// 32 activations of sub-block j (ggml <c>ggml_vec_dot_q4_K_q8_K</c>).
    /// </summary>
    public static float Q4_K(byte* w, sbyte* a, float* ad, int* bsums, int nb) => Q4_KCore(w, a, ad, bsums, nb, simd: Avx2.IsSupported);

    static float Q4_KCore(byte* w, sbyte* a, float* ad, int* bsums, int nb, bool simd)
    {
        float* tab = F16Table;
        var mask = Vector256.Create((byte)0x0F);
        float sum = 0;
        for (int b = 0; b < nb; b++, w += 144, a += 256, bsums += 16)
        {
            var scales = new ReadOnlySpan<byte>(w + 4, 12);
            byte* qs = w + 16;
            int sumi = 0, summ = 0;
            var accK = Vector256<int>.Zero;
            for (int c = 0; c < 4; c++)
            {
                var (s1, m1) = BlockFormats.ScaleMinK4(2 * c, scales);
                var (s2, m2) = BlockFormats.ScaleMinK4(2 * c + 1, scales);
                summ += m1 * (bsums[4 * c] + bsums[4 * c + 1]) + m2 * (bsums[4 * c + 2] + bsums[4 * c + 3]);
                if (simd)
                {
                    // the two 32-value groups' products weighted by their 6-bit scales in int32 lanes (vpmaddubsw, then
                    // vpmaddwd with the scale as int16); one horizontal sum per block below instead of two per group
                    var q = Vector256.Load(qs + 32 * c);
                    var plo = Avx2.MultiplyAddAdjacent(q & mask, Vector256.Load(a + 64 * c));
                    var phi = Avx2.MultiplyAddAdjacent(Vector256.ShiftRightLogical(q.AsUInt16(), 4).AsByte() & mask, Vector256.Load(a + 64 * c + 32));
                    accK += Avx2.MultiplyAddAdjacent(plo, Vector256.Create((short)s1)) + Avx2.MultiplyAddAdjacent(phi, Vector256.Create((short)s2));
                    continue;
                }
                int lo = 0, hi = 0;
                for (int l = 0; l < 32; l++)
                {
                    lo += (qs[32 * c + l] & 0xF) * a[64 * c + l];
                    hi += (qs[32 * c + l] >> 4) * a[64 * c + 32 + l];
                }
                sumi += s1 * lo + s2 * hi;
            }
            if (simd) sumi = Vector256.Sum(accK);
            sum += ad[b] * H(tab, w) * sumi - ad[b] * H(tab, w + 2) * summ;
        }
        return sum;
    }

    /// <summary>Q6_K · Q8_K: d_x·d·Σ_g sc_g·Σ (q6 − 32)·q8 over 16 groups of 16 (ggml <c>ggml_vec_dot_q6_K_q8_K</c>).</summary>
    public static float Q6_K(byte* w, sbyte* a, float* ad, int nb) =>
        Avx2.IsSupported ? Q6_KAvx2(w, a, ad, nb) : Q6_KScalar(w, a, ad, nb);

    /// <summary>Scalar reference for <see cref="Q6_K"/>.</summary>
    public static float Q6_KScalar(byte* w, sbyte* a, float* ad, int nb)
    {
        float* tab = F16Table;
        float sum = 0;
        for (int b = 0; b < nb; b++, w += 210, a += 256)
        {
            sbyte* sc = (sbyte*)(w + 192);
            int sumi = 0;
            for (int h = 0; h < 2; h++)
            {
                byte* ql = w + 64 * h;
                byte* qh = w + 128 + 32 * h;
                sbyte* ah = a + 128 * h;
                sbyte* s = sc + 8 * h;
                for (int g = 0; g < 2; g++)
                {
                    int s1 = 0, s2 = 0, s3 = 0, s4 = 0;
                    for (int l = 16 * g; l < 16 * g + 16; l++)
                    {
                        s1 += (((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32) * ah[l];
                        s2 += (((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32) * ah[l + 32];
                        s3 += (((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32) * ah[l + 64];
                        s4 += (((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32) * ah[l + 96];
                    }
                    sumi += s[g] * s1 + s[g + 2] * s2 + s[g + 4] * s3 + s[g + 6] * s4;
                }
            }
            sum += ad[b] * H(tab, w + 208) * sumi;
        }
        return sum;
    }

    /// <summary>
    /// AVX2 Q6_K, with ggml's <c>ggml_vec_dot_q6_K_q8_K</c> structure: the 6-bit codes are taken unsigned (0..63) so
    /// vpmaddubsw applies, and the −32 offset is taken back in int16 per product (vpmaddubsw of 32 with the activations:
    /// (u·a pair sum) − 32·(a pair sum) = ((u − 32)·a pair sum) exactly, |·| ≤ 2·32·128); each super-block's 8 int32
    /// lanes then go into an 8-lane f32 accumulator with one FMA by d_x·d, and one horizontal sum ends the row. (The
    /// earlier version folded the offset back with the Q8_K group sums and summed each super-block horizontally into a
    /// scalar chain: two horizontal sums and two vpmulld per super-block, on the row's critical path.)
    /// </summary>
    static float Q6_KAvx2(byte* w, sbyte* a, float* ad, int nb)
    {
        float* tab = F16Table;
        var acc = Vector256<float>.Zero;
        for (int b = 0; b < nb; b++, w += 210, a += 256)
        {
            var sc16 = Avx2.ConvertToVector256Int16((sbyte*)(w + 192));   // the 16 group scales as int16, spread per product
            // the two 128-value halves written out (h a constant in each, so ScalePair folds to one shuffle)
            var sumi = Q6_KHalf(w, a, sc16, 0) + Q6_KHalf(w, a, sc16, 1);
            acc = Vector256.FusedMultiplyAdd(Vector256.Create(ad[b] * H(tab, w + 208)), Vector256.ConvertToSingle(sumi), acc);
        }
        return Vector256.Sum(acc);
    }

    /// <summary>
    /// <see cref="Q6_K"/> of two weight rows with the same activations: the activation loads and their 32·(pair sums) are
    /// shared, each row keeps its own accumulator and exactly Q6_K's operations, so each result equals Q6_K's bit for bit.
    /// </summary>
    public static (float, float) Q6_KRows2(byte* w0, byte* w1, sbyte* a, float* ad, int nb)
    {
        if (!Avx2.IsSupported) return (Q6_KScalar(w0, a, ad, nb), Q6_KScalar(w1, a, ad, nb));
        float* tab = F16Table;
        Vector256<float> acc0 = default, acc1 = default;
        for (int b = 0; b < nb; b++, w0 += 210, w1 += 210, a += 256)
        {
            var sc0 = Avx2.ConvertToVector256Int16((sbyte*)(w0 + 192));
            var sc1 = Avx2.ConvertToVector256Int16((sbyte*)(w1 + 192));
            var (s0a, s1a) = Q6_KHalf2(w0, w1, a, sc0, sc1, 0);
            var (s0b, s1b) = Q6_KHalf2(w0, w1, a, sc0, sc1, 1);
            var da = Vector256.Create(ad[b]);
            acc0 = Vector256.FusedMultiplyAdd(da * Vector256.Create(H(tab, w0 + 208)), Vector256.ConvertToSingle(s0a + s0b), acc0);
            acc1 = Vector256.FusedMultiplyAdd(da * Vector256.Create(H(tab, w1 + 208)), Vector256.ConvertToSingle(s1a + s1b), acc1);
        }
        return (Vector256.Sum(acc0), Vector256.Sum(acc1));
    }

    /// <summary><see cref="Q6_KHalf"/> for two rows sharing the activations and their 32·(pair sums).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static (Vector256<int>, Vector256<int>) Q6_KHalf2(byte* w0, byte* w1, sbyte* a, Vector256<short> sc0, Vector256<short> sc1, int h)
    {
        sbyte* ah = a + 128 * h;
        var a1 = Vector256.Load(ah); var a2 = Vector256.Load(ah + 32); var a3 = Vector256.Load(ah + 64); var a4 = Vector256.Load(ah + 96);
        var thirtyTwo = Vector256.Create((byte)32);
        var o1 = Avx2.MultiplyAddAdjacent(thirtyTwo, a1); var o2 = Avx2.MultiplyAddAdjacent(thirtyTwo, a2);
        var o3 = Avx2.MultiplyAddAdjacent(thirtyTwo, a3); var o4 = Avx2.MultiplyAddAdjacent(thirtyTwo, a4);
        return (Q6_KHalfShared(w0, sc0, h, a1, a2, a3, a4, o1, o2, o3, o4), Q6_KHalfShared(w1, sc1, h, a1, a2, a3, a4, o1, o2, o3, o4));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<int> Q6_KHalfShared(byte* w, Vector256<short> sc16, int h, Vector256<sbyte> a1, Vector256<sbyte> a2, Vector256<sbyte> a3, Vector256<sbyte> a4,
        Vector256<short> o1, Vector256<short> o2, Vector256<short> o3, Vector256<short> o4)
    {
        var (u1, u2, u3, u4) = Q6_KCodes(w, h);
        return Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(u1, a1) - o1, ScalePair(sc16, 8 * h))
             + Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(u2, a2) - o2, ScalePair(sc16, 8 * h + 2))
             + Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(u3, a3) - o3, ScalePair(sc16, 8 * h + 4))
             + Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(u4, a4) - o4, ScalePair(sc16, 8 * h + 6));
    }

    /// <summary>The 4 × 32 unsigned 6-bit codes of half h of a Q6_K super-block (ql low/high nibbles with qh's 2-bit pairs).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static (Vector256<byte>, Vector256<byte>, Vector256<byte>, Vector256<byte>) Q6_KCodes(byte* w, int h)
    {
        var m4 = Vector256.Create((byte)0x0F);
        var m2 = Vector256.Create((byte)0x03);
        var ql0 = Vector256.Load(w + 64 * h);
        var ql1 = Vector256.Load(w + 64 * h + 32);
        var qh = Vector256.Load(w + 128 + 32 * h);
        var u1 = (ql0 & m4) | Vector256.ShiftLeft((qh & m2).AsUInt16(), 4).AsByte();
        var u2 = (ql1 & m4) | Vector256.ShiftLeft((Vector256.ShiftRightLogical(qh.AsUInt16(), 2).AsByte() & m2).AsUInt16(), 4).AsByte();
        var u3 = (Vector256.ShiftRightLogical(ql0.AsUInt16(), 4).AsByte() & m4) | Vector256.ShiftLeft((Vector256.ShiftRightLogical(qh.AsUInt16(), 4).AsByte() & m2).AsUInt16(), 4).AsByte();
        var u4 = (Vector256.ShiftRightLogical(ql1.AsUInt16(), 4).AsByte() & m4) | Vector256.ShiftLeft((Vector256.ShiftRightLogical(qh.AsUInt16(), 6).AsByte() & m2).AsUInt16(), 4).AsByte();
        return (u1, u2, u3, u4);
    }

    /// <summary>Half h of a Q6_K super-block (128 values: 64 bytes of ql, 32 of qh) against its activations, 8 int32 lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<int> Q6_KHalf(byte* w, sbyte* a, Vector256<short> sc16, int h)
    {
        var (u1, u2, u3, u4) = Q6_KCodes(w, h);
        sbyte* ah = a + 128 * h;
        // vpmaddwd with the two 16-value groups' scales as int16 ([s0 × 8 | s1 × 8]) weights and adds each product's
        // 16 pair sums into 8 int32 in one step
        return Avx2.MultiplyAddAdjacent(Q6_KPairs(u1, Vector256.Load(ah)), ScalePair(sc16, 8 * h))
             + Avx2.MultiplyAddAdjacent(Q6_KPairs(u2, Vector256.Load(ah + 32)), ScalePair(sc16, 8 * h + 2))
             + Avx2.MultiplyAddAdjacent(Q6_KPairs(u3, Vector256.Load(ah + 64)), ScalePair(sc16, 8 * h + 4))
             + Avx2.MultiplyAddAdjacent(Q6_KPairs(u4, Vector256.Load(ah + 96)), ScalePair(sc16, 8 * h + 6));
    }

    /// <summary>16 int16 pair sums of (u − 32)·a for 32 unsigned 6-bit codes u and signed activations a.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<short> Q6_KPairs(Vector256<byte> u, Vector256<sbyte> a) =>
        Avx2.MultiplyAddAdjacent(u, a) - Avx2.MultiplyAddAdjacent(Vector256.Create((byte)32), a);

    /// <summary>
    /// [sc[g] × 8 | sc[g+1] × 8] as int16 from the 16 scales widened once per super-block: one constant-index shuffle
    /// (vpermw with AVX-512) where building the pair from two scalars took five operations. g is a constant after
    /// inlining and unrolling.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<short> ScalePair(Vector256<short> sc16, int g) => g switch
    {
        0 => Vector256.Shuffle(sc16, Vector256.Create((short)0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1)),
        2 => Vector256.Shuffle(sc16, Vector256.Create((short)2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3)),
        4 => Vector256.Shuffle(sc16, Vector256.Create((short)4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5)),
        6 => Vector256.Shuffle(sc16, Vector256.Create((short)6, 6, 6, 6, 6, 6, 6, 6, 7, 7, 7, 7, 7, 7, 7, 7)),
        8 => Vector256.Shuffle(sc16, Vector256.Create((short)8, 8, 8, 8, 8, 8, 8, 8, 9, 9, 9, 9, 9, 9, 9, 9)),
        10 => Vector256.Shuffle(sc16, Vector256.Create((short)10, 10, 10, 10, 10, 10, 10, 10, 11, 11, 11, 11, 11, 11, 11, 11)),
        12 => Vector256.Shuffle(sc16, Vector256.Create((short)12, 12, 12, 12, 12, 12, 12, 12, 13, 13, 13, 13, 13, 13, 13, 13)),
        _ => Vector256.Shuffle(sc16, Vector256.Create((short)14, 14, 14, 14, 14, 14, 14, 14, 15, 15, 15, 15, 15, 15, 15, 15)),
    };
}
