using System.Buffers.Binary;
using System.Runtime.InteropServices;
using FalconMamba.Formats.Safetensors;

namespace FalconMamba.Kernels.Quantized;

/// <summary>
/// Reference quantizers that reproduce llama.cpp's deterministic <c>quantize_row_*_ref</c> (ggml-quants.c; what
/// <c>llama-quantize</c> writes without an importance matrix), so our files hold what llama.cpp would write.
/// Float operations follow the C order; results can differ from a build that contracts a·b+c into FMA in the last bit.
/// </summary>
public static class Quantizers
{
    /// <summary>Types <see cref="QuantizeRow"/> can produce.</summary>
    public static bool CanQuantize(TensorType t) => t is TensorType.F32 or TensorType.F16 or TensorType.BF16
        or TensorType.Q8_0 or TensorType.Q4_0 or TensorType.Q4_K or TensorType.Q6_K;

    /// <summary>Encodes one row <paramref name="x"/> as <paramref name="type"/> into <paramref name="dst"/> (RowBytes bytes).</summary>
    public static void QuantizeRow(TensorType type, ReadOnlySpan<float> x, Span<byte> dst)
    {
        var (bs, ts) = BlockFormats.Geometry(type);
        if (x.Length % bs != 0 || dst.Length != x.Length / bs * ts)
            throw new ArgumentException($"{type}: a row of {x.Length} elements needs a multiple of {bs} and {x.Length / bs * ts} bytes (got {dst.Length})");
        switch (type)
        {
            case TensorType.F32: MemoryMarshal.AsBytes(x).CopyTo(dst); return;
            case TensorType.F16: System.Numerics.Tensors.TensorPrimitives.ConvertToHalf(x, MemoryMarshal.Cast<byte, Half>(dst)); return;
            case TensorType.BF16:
                var u = MemoryMarshal.Cast<byte, ushort>(dst);
                for (int i = 0; i < x.Length; i++) u[i] = BFloat16.FromSingle(x[i]);
                return;
        }
        int nb = x.Length / bs;
        for (int i = 0; i < nb; i++)
        {
            var xb = x.Slice(i * bs, bs);
            var yb = dst.Slice(i * ts, ts);
            switch (type)
            {
                case TensorType.Q8_0: Q8_0(xb, yb); break;
                case TensorType.Q4_0: Q4_0(xb, yb); break;
                case TensorType.Q4_K: Q4_K(xb, yb); break;
                case TensorType.Q6_K: Q6_K(xb, yb); break;
                default: throw new NotSupportedException($"quantizing to {type} is not implemented (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K)");
            }
        }
    }

    static void PutHalf(Span<byte> b, float v) => BinaryPrimitives.WriteUInt16LittleEndian(b, BitConverter.HalfToUInt16Bits((Half)v));
    static float GetHalf(ReadOnlySpan<byte> b) => (float)BitConverter.UInt16BitsToHalf(BinaryPrimitives.ReadUInt16LittleEndian(b));

    /// <summary>ggml <c>nearest_int</c>: round half to even (the 1.5·2^23 trick), valid for |v| ≤ 2^22.</summary>
    public static int NearestInt(float v) => (int)MathF.Round(v, MidpointRounding.ToEven);

    /// <summary><c>quantize_row_q8_0_ref</c>: d = max|x|/127, q = round-half-away(x/d).</summary>
    public static void Q8_0(ReadOnlySpan<float> x, Span<byte> y)
    {
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = MathF.Max(amax, MathF.Abs(x[j]));
        float d = amax / 127;
        float id = d != 0 ? 1.0f / d : 0.0f;
        PutHalf(y, d);
        for (int j = 0; j < 32; j++) y[2 + j] = (byte)(sbyte)MathF.Round(x[j] * id, MidpointRounding.AwayFromZero);
    }

    /// <summary><c>quantize_row_q4_0_ref</c>: d = (signed max-magnitude element)/−8, q = min(15, trunc(x/d + 8.5)).</summary>
    public static void Q4_0(ReadOnlySpan<float> x, Span<byte> y)
    {
        float amax = 0, max = 0;
        for (int j = 0; j < 32; j++)
            if (amax < MathF.Abs(x[j])) { amax = MathF.Abs(x[j]); max = x[j]; }
        float d = max / -8;
        float id = d != 0 ? 1.0f / d : 0.0f;
        PutHalf(y, d);
        for (int j = 0; j < 16; j++)
        {
            int q0 = Math.Min(15, (int)(sbyte)(int)(x[j] * id + 8.5f));
            int q1 = Math.Min(15, (int)(sbyte)(int)(x[16 + j] * id + 8.5f));
            y[2 + j] = (byte)(q0 | (q1 << 4));
        }
    }

    /// <summary>
    /// <c>make_qkx2_quants</c>: fits scale and min of an asymmetric nmax-level grid by weighted least squares over a
    /// sweep of nstep+1 candidate inverse scales; returns the scale, writes L and −min.
    /// </summary>
    static float MakeQkx2Quants(int n, int nmax, ReadOnlySpan<float> x, ReadOnlySpan<float> weights, Span<byte> L, out float theMin, Span<byte> laux, float rmin, float rdelta, int nstep)
    {
        float min = x[0], max = x[0];
        float sumW = weights[0], sumX = sumW * x[0];
        for (int i = 1; i < n; i++)
        {
            if (x[i] < min) min = x[i];
            if (x[i] > max) max = x[i];
            float w = weights[i];
            sumW += w;
            sumX += w * x[i];
        }
        if (min > 0) min = 0;
        if (max == min)
        {
            L[..n].Clear();
            theMin = -min;
            return 0;
        }
        float iscale = nmax / (max - min);
        float scale = 1 / iscale;
        float bestError = 0;
        for (int i = 0; i < n; i++)
        {
            int l = NearestInt(iscale * (x[i] - min));
            L[i] = (byte)Math.Max(0, Math.Min(nmax, l));
            float diff = scale * L[i] + min - x[i];
            bestError += weights[i] * (diff * diff);
        }
        for (int s = 0; s <= nstep; s++)
        {
            iscale = (rmin + rdelta * s + nmax) / (max - min);
            float sumL = 0, sumL2 = 0, sumXL = 0;
            for (int i = 0; i < n; i++)
            {
                int l = Math.Max(0, Math.Min(nmax, NearestInt(iscale * (x[i] - min))));
                laux[i] = (byte)l;
                float w = weights[i];
                sumL += w * l;
                sumL2 += w * l * l;
                sumXL += w * l * x[i];
            }
            float D = sumW * sumL2 - sumL * sumL;
            if (D > 0)
            {
                float thisScale = (sumW * sumXL - sumX * sumL) / D;
                float thisMin = (sumL2 * sumX - sumL * sumXL) / D;
                if (thisMin > 0)
                {
                    thisMin = 0;
                    thisScale = sumXL / sumL2;
                }
                float curError = 0;
                for (int i = 0; i < n; i++)
                {
                    float diff = thisScale * laux[i] + thisMin - x[i];
                    curError += weights[i] * (diff * diff);
                }
                if (curError < bestError)
                {
                    laux[..n].CopyTo(L);
                    bestError = curError;
                    scale = thisScale;
                    min = thisMin;
                }
            }
        }
        theMin = -min;
        return scale;
    }

    /// <summary><c>quantize_row_q4_K_ref</c> (SPEC.md §5): per 32-element sub-block fit, 6-bit scale/min codes, requantize.</summary>
    public static void Q4_K(ReadOnlySpan<float> x, Span<byte> y)
    {
        Span<byte> L = stackalloc byte[256];
        Span<byte> laux = stackalloc byte[32];
        Span<float> weights = stackalloc float[32];
        Span<float> mins = stackalloc float[8];
        Span<float> scales = stackalloc float[8];
        float maxScale = 0, maxMin = 0;
        for (int j = 0; j < 8; j++)
        {
            var xs = x.Slice(32 * j, 32);
            float sumX2 = 0;
            for (int l = 0; l < 32; l++) sumX2 += xs[l] * xs[l];
            float avX = MathF.Sqrt(sumX2 / 32);
            for (int l = 0; l < 32; l++) weights[l] = avX + MathF.Abs(xs[l]);
            scales[j] = MakeQkx2Quants(32, 15, xs, weights, L.Slice(32 * j, 32), out mins[j], laux, -1f, 0.1f, 20);
            if (scales[j] > maxScale) maxScale = scales[j];
            if (mins[j] > maxMin) maxMin = mins[j];
        }
        var sc = y.Slice(4, 12);
        sc.Clear();
        float invScale = maxScale > 0 ? 63f / maxScale : 0f;
        float invMin = maxMin > 0 ? 63f / maxMin : 0f;
        for (int j = 0; j < 8; j++)
        {
            int ls = Math.Min(63, (int)(byte)NearestInt(invScale * scales[j]));
            int lm = Math.Min(63, (int)(byte)NearestInt(invMin * mins[j]));
            if (j < 4)
            {
                sc[j] = (byte)ls;
                sc[j + 4] = (byte)lm;
            }
            else
            {
                sc[j + 4] = (byte)((ls & 0xF) | ((lm & 0xF) << 4));
                sc[j - 4] |= (byte)((ls >> 4) << 6);
                sc[j] |= (byte)((lm >> 4) << 6);
            }
        }
        PutHalf(y, maxScale / 63f);
        PutHalf(y[2..], maxMin / 63f);
        float dAll = GetHalf(y), dMin = GetHalf(y[2..]);
        for (int j = 0; j < 8; j++)
        {
            var (s, m) = BlockFormats.ScaleMinK4(j, sc);
            float d = dAll * s;
            if (d == 0) continue;
            float dm = dMin * m;
            for (int i = 0; i < 32; i++)
                L[32 * j + i] = (byte)Math.Max(0, Math.Min(15, NearestInt((x[32 * j + i] + dm) / d)));
        }
        var q = y.Slice(16, 128);
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++) q[32 * c + l] = (byte)(L[64 * c + l] | (L[64 * c + 32 + l] << 4));
    }

    /// <summary>
    /// <c>make_qx_quants</c> with rmse_type 1 (weights x², used by Q6_K): symmetric grid [−nmax, nmax−1], sweep of
    /// 18 candidate scales around nmax/max keeping the best weighted least-squares fit.
    /// </summary>
    static float MakeQxQuants(int n, int nmax, ReadOnlySpan<float> x, Span<sbyte> L)
    {
        float max = 0, amax = 0;
        for (int i = 0; i < n; i++)
        {
            float ax = MathF.Abs(x[i]);
            if (ax > amax) { amax = ax; max = x[i]; }
        }
        if (amax < 1e-15f) // GROUP_MAX_EPS
        {
            L[..n].Clear();
            return 0;
        }
        float iscale = -nmax / max;
        float sumLX = 0, sumL2 = 0;
        for (int i = 0; i < n; i++)
        {
            int l = Math.Max(-nmax, Math.Min(nmax - 1, NearestInt(iscale * x[i])));
            L[i] = (sbyte)(l + nmax);
            float w = x[i] * x[i];
            sumLX += w * x[i] * l;
            sumL2 += w * l * l;
        }
        float scale = sumL2 != 0 ? sumLX / sumL2 : 0.0f;
        float best = scale * sumLX;
        for (int s = -9; s <= 9; s++)
        {
            if (s == 0) continue;
            iscale = -(nmax + 0.1f * s) / max;
            sumLX = sumL2 = 0;
            for (int i = 0; i < n; i++)
            {
                int l = Math.Max(-nmax, Math.Min(nmax - 1, NearestInt(iscale * x[i])));
                float w = x[i] * x[i];
                sumLX += w * x[i] * l;
                sumL2 += w * l * l;
            }
            if (sumL2 > 0 && sumLX * sumLX > best * sumL2)
            {
                for (int i = 0; i < n; i++)
                    L[i] = (sbyte)(nmax + Math.Max(-nmax, Math.Min(nmax - 1, NearestInt(iscale * x[i]))));
                scale = sumLX / sumL2;
                best = scale * sumLX;
            }
        }
        return scale;
    }

    /// <summary><c>quantize_row_q6_K_ref</c>: 16 groups of 16, 8-bit group scales relative to d = max_scale/−128.</summary>
    public static void Q6_K(ReadOnlySpan<float> x, Span<byte> y)
    {
        Span<sbyte> L = stackalloc sbyte[256];
        Span<float> scales = stackalloc float[16];
        float maxScale = 0, maxAbsScale = 0;
        for (int ib = 0; ib < 16; ib++)
        {
            float scale = MakeQxQuants(16, 32, x.Slice(16 * ib, 16), L.Slice(16 * ib, 16));
            scales[ib] = scale;
            if (MathF.Abs(scale) > maxAbsScale) { maxAbsScale = MathF.Abs(scale); maxScale = scale; }
        }
        y.Clear();
        if (maxAbsScale < 1e-15f) return; // all-zero block: d = 0
        float iscale = -128f / maxScale;
        PutHalf(y[208..], 1 / iscale);
        var sc = MemoryMarshal.Cast<byte, sbyte>(y.Slice(192, 16));
        for (int ib = 0; ib < 16; ib++) sc[ib] = (sbyte)Math.Min(127, NearestInt(iscale * scales[ib]));
        float dAll = GetHalf(y[208..]);
        for (int j = 0; j < 16; j++)
        {
            float d = dAll * sc[j];
            if (d == 0) continue;
            for (int i = 0; i < 16; i++)
                L[16 * j + i] = (sbyte)(Math.Max(-32, Math.Min(31, NearestInt(x[16 * j + i] / d))) + 32);
        }
        for (int h = 0; h < 2; h++)
        {
            var ql = y.Slice(64 * h, 64);
            var qh = y.Slice(128 + 32 * h, 32);
            int j = 128 * h;
            for (int l = 0; l < 32; l++)
            {
                int q1 = L[j + l] & 0xF, q2 = L[j + l + 32] & 0xF, q3 = L[j + l + 64] & 0xF, q4 = L[j + l + 96] & 0xF;
                ql[l] = (byte)(q1 | (q3 << 4));
                ql[l + 32] = (byte)(q2 | (q4 << 4));
                qh[l] = (byte)((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) | ((L[j + l + 96] >> 4) << 6));
            }
        }
    }
}
