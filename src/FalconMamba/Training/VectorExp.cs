using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace FalconMamba.Training;

/// <summary>
/// exp(x) for 8 floats, inlined: Cody–Waite range reduction x = k·ln2 + r and the Cephes expf polynomial (≈1–2 ulp over
/// the clamped range). The runtime's Vector256.Exp is an out-of-line call that widens to double; inside the scan's
/// inner loops that call made every live vector register spill (the SysV ABI preserves none), so a training step spent
/// a large share of its time there. Inputs are clamped to [−87, 88]: below, the result is 0 (as e^x underflows in
/// f32 anyway: e^−87 ≈ 1.6e−38); above, e^88 ≈ 1.65e38 stands in for +∞ (only 1/(1 + e^x) and y/(1 + e^x) use large x).
/// The scalar reference is MathF.Exp (tested for the error bound).
/// </summary>
public static class VectorExp
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Exp(Vector256<float> x)
    {
        var xc = Vector256.Min(Vector256.Max(x, Vector256.Create(-87f)), Vector256.Create(88f));
        var k = Vector256.Round(xc * Vector256.Create(1.44269504088896341f));
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
        var pow2 = Vector256.ShiftLeft(Vector256.ConvertToInt32(k) + Vector256.Create(127), 23).AsSingle();
        return Vector256.AndNot(y * pow2, Vector256.LessThan(x, Vector256.Create(-87f)));
    }
}
