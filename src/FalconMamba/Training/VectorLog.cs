using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace FalconMamba.Training;

/// <summary>
/// log(x) for 8 positive normal floats, inlined: the Cephes logf reduction x = m·2^e with m in [√½, √2) and its degree-9
/// polynomial in m − 1 (≈1 ulp). The runtime's Vector256.Log is an out-of-line call; in the softplus pass of every layer
/// (Δ = log(1 + e^x) over M·E values) it cost about 4 ms per layer, ~3 % of a training step at D 256. Zero, subnormal,
/// negative, infinite and NaN inputs are outside its domain (softplus only feeds it 1 + e^x ≥ 1). The scalar reference
/// is MathF.Log (tested for the error bound).
/// </summary>
public static class VectorLog
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Log(Vector256<float> x)
    {
        var bits = x.AsInt32();
        // x = m·2^e with m in [0.5, 1)
        var e = Vector256.ConvertToSingle(Vector256.ShiftRightArithmetic(bits, 23) - Vector256.Create(126));
        var m = ((bits & Vector256.Create(0x007FFFFF)) | Vector256.Create(0x3F000000)).AsSingle();
        // m < √½: use 2m − 1 and e − 1 (so the argument of the polynomial stays in [√½ − 1, √2 − 1)); both exact
        var small = Vector256.LessThan(m, Vector256.Create(0.707106781186547524f));
        e -= small & Vector256<float>.One;
        var f = (m + (m & small)) - Vector256<float>.One;
        var z = f * f;
        var p = Vector256.Create(7.0376836292E-2f);
        p = Vector256.FusedMultiplyAdd(p, f, Vector256.Create(-1.1514610310E-1f));
        p = Vector256.FusedMultiplyAdd(p, f, Vector256.Create(1.1676998740E-1f));
        p = Vector256.FusedMultiplyAdd(p, f, Vector256.Create(-1.2420140846E-1f));
        p = Vector256.FusedMultiplyAdd(p, f, Vector256.Create(1.4249322787E-1f));
        p = Vector256.FusedMultiplyAdd(p, f, Vector256.Create(-1.6668057665E-1f));
        p = Vector256.FusedMultiplyAdd(p, f, Vector256.Create(2.0000714765E-1f));
        p = Vector256.FusedMultiplyAdd(p, f, Vector256.Create(-2.4999993993E-1f));
        p = Vector256.FusedMultiplyAdd(p, f, Vector256.Create(3.3333331174E-1f));
        var y = p * f * z;
        y = Vector256.FusedMultiplyAdd(e, Vector256.Create(-2.12194440e-4f), y);   // ln2 = 0.693359375 − 2.12194440e−4, in two parts
        y = Vector256.FusedMultiplyAdd(z, Vector256.Create(-0.5f), y);
        return Vector256.FusedMultiplyAdd(e, Vector256.Create(0.693359375f), f + y);
    }
}
