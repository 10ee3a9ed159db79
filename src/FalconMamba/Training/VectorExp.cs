using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace FalconMamba.Training;

/// <summary>
/// exp(x) for 8 (or 16) floats, inlined: Cody–Waite range reduction x = k·ln2 + r and the Cephes expf polynomial (≈1–2
/// ulp over the clamped range). The runtime's Vector256.Exp is an out-of-line call that widens to double; inside the
/// scan's inner loops that call made every live vector register spill (the SysV ABI preserves none), so a training step
/// spent a large share of its time there. Inputs are clamped to [−88, 88]. At the low end k = round(x·log2 e) reaches
/// −127, whose 2^k built from exponent bits is +0, so the result is 0 from about x = −87.68 down (where e^x is
/// subnormal in f32 anyway; just above it the result is e^x, rounded to a subnormal) — no compare and mask needed. At
/// the top, e^88 ≈ 1.65e38 stands in for +∞ (only 1/(1 + e^x) and y/(1 + e^x) use large x). The scalar reference is
/// MathF.Exp (tested for the error bound).
/// </summary>
public static class VectorExp
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Exp(Vector256<float> x)
    {
        var xc = Vector256.Min(Vector256.Max(x, Vector256.Create(-88f)), Vector256.Create(88f));
        // k = round(x·log2 e) by the 1.5·2²³ shifter: the sum's low mantissa bits hold k in two's complement, so its
        // bits shifted left by 23 are k·2²³ (the exponent field of 2^k, less the bias); no saturating float→int conversion
        var shifted = Vector256.FusedMultiplyAdd(xc, Vector256.Create(1.44269504088896341f), Vector256.Create(12582912f));
        var k = shifted - Vector256.Create(12582912f);
        // r = x − k·ln2 in two parts (the high part exact in f32)
        var r = Vector256.FusedMultiplyAdd(k, Vector256.Create(-0.693359375f), xc);
        r = Vector256.FusedMultiplyAdd(k, Vector256.Create(2.12194440e-4f), r);
        var p = Vector256.Create(1.9875691500E-4f);
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.3981999507E-3f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(8.3334519073E-3f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(4.1665795894E-2f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.6666665459E-1f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(5.0000001201E-1f));
        var y = Vector256.FusedMultiplyAdd(p, r * r, r) + Vector256<float>.One;
        var pow2 = (Vector256.ShiftLeft(shifted.AsInt32(), 23) + Vector256.Create(127 << 23)).AsSingle();   // k = −127 gives +0
        return y * pow2;
    }

    /// <summary>The same for 16 floats (on AVX-512 one instruction stream carries two 8-lane chains: more independent work per scheduler entry).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Exp(Vector512<float> x)
    {
        var xc = Vector512.Min(Vector512.Max(x, Vector512.Create(-88f)), Vector512.Create(88f));
        // k = round(x·log2 e) by the 1.5·2²³ shifter: the sum's low mantissa bits hold k in two's complement, so its
        // bits shifted left by 23 are k·2²³ (the exponent field of 2^k, less the bias); no saturating float→int conversion
        var shifted = Vector512.FusedMultiplyAdd(xc, Vector512.Create(1.44269504088896341f), Vector512.Create(12582912f));
        var k = shifted - Vector512.Create(12582912f);
        // r = x − k·ln2 in two parts (the high part exact in f32)
        var r = Vector512.FusedMultiplyAdd(k, Vector512.Create(-0.693359375f), xc);
        r = Vector512.FusedMultiplyAdd(k, Vector512.Create(2.12194440e-4f), r);
        var p = Vector512.Create(1.9875691500E-4f);
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.3981999507E-3f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(8.3334519073E-3f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(4.1665795894E-2f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.6666665459E-1f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(5.0000001201E-1f));
        var y = Vector512.FusedMultiplyAdd(p, r * r, r) + Vector512<float>.One;
        var pow2 = (Vector512.ShiftLeft(shifted.AsInt32(), 23) + Vector512.Create(127 << 23)).AsSingle();   // k = −127 gives +0
        return y * pow2;
    }
}
