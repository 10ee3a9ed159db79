using System.Runtime.Intrinsics;

namespace FalconMamba.Training;

/// <summary>
/// The element-wise activations of the Mamba block and their derivatives, 8 elements per Vector256 with the inline vector
/// exp/log (VectorExp, VectorLog: a scalar MathF call per element cost ~10 % of a training step), each with its scalar reference (the tail
/// and the test oracle). Softplus follows torch: identity above 20. The gate is yg = y·SiLU(z).
/// </summary>
public static class Activations
{
    /// <summary>Δ = softplus(x) = log(1 + eˣ) (x for x &gt; 20).</summary>
    public static void Softplus(ReadOnlySpan<float> x, Span<float> y)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
            for (; i + 8 <= x.Length; i += 8)
            {
                var v = Vector256.Create(x.Slice(i, 8));
                Vector256.ConditionalSelect(Vector256.GreaterThan(v, Vector256.Create(20f)), v, VectorLog.Log(Vector256<float>.One + VectorExp.Exp(v))).CopyTo(y.Slice(i, 8));
            }
        SoftplusScalar(x[i..], y[i..]);
    }

    /// <summary>Scalar reference of <see cref="Softplus"/>.</summary>
    public static void SoftplusScalar(ReadOnlySpan<float> x, Span<float> y)
    {
        for (int i = 0; i < x.Length; i++) y[i] = x[i] > 20 ? x[i] : MathF.Log(1 + MathF.Exp(x[i]));
    }

    /// <summary>dx = dΔ·σ(x) in place (softplus' = sigmoid; 1 above the threshold 20).</summary>
    public static void SoftplusBackward(ReadOnlySpan<float> x, Span<float> d)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
            for (; i + 8 <= x.Length; i += 8)
            {
                var v = Vector256.Create(x.Slice(i, 8));
                var sg = Vector256.ConditionalSelect(Vector256.GreaterThan(v, Vector256.Create(20f)), Vector256<float>.One, Vector256<float>.One / (Vector256<float>.One + VectorExp.Exp(-v)));
                (Vector256.Create((ReadOnlySpan<float>)d.Slice(i, 8)) * sg).CopyTo(d.Slice(i, 8));
            }
        SoftplusBackwardScalar(x[i..], d[i..]);
    }

    /// <summary>Scalar reference of <see cref="SoftplusBackward"/>.</summary>
    public static void SoftplusBackwardScalar(ReadOnlySpan<float> x, Span<float> d)
    {
        for (int i = 0; i < x.Length; i++) d[i] *= x[i] > 20 ? 1 : 1 / (1 + MathF.Exp(-x[i]));
    }

    /// <summary>yg = y·SiLU(z) = y·z·σ(z).</summary>
    public static void Gate(ReadOnlySpan<float> y, ReadOnlySpan<float> z, Span<float> yg)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
            for (; i + 8 <= y.Length; i += 8)
            {
                var zv = Vector256.Create(z.Slice(i, 8));
                (Vector256.Create(y.Slice(i, 8)) * zv / (Vector256<float>.One + VectorExp.Exp(-zv))).CopyTo(yg.Slice(i, 8));
            }
        GateScalar(y[i..], z[i..], yg[i..]);
    }

    /// <summary>Scalar reference of <see cref="Gate"/>.</summary>
    public static void GateScalar(ReadOnlySpan<float> y, ReadOnlySpan<float> z, Span<float> yg)
    {
        for (int i = 0; i < y.Length; i++) yg[i] = y[i] * z[i] / (1 + MathF.Exp(-z[i]));
    }

    /// <summary>Backward of the gate given dyg: dy = dyg·SiLU(z), dz = dyg·y·SiLU'(z), SiLU'(z) = σ(z)·(1 + z·(1 − σ(z))).</summary>
    public static void GateBackward(ReadOnlySpan<float> dyg, ReadOnlySpan<float> y, ReadOnlySpan<float> z, Span<float> dy, Span<float> dz)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var one = Vector256<float>.One;
            for (; i + 8 <= y.Length; i += 8)
            {
                var zv = Vector256.Create(z.Slice(i, 8)); var gy = Vector256.Create(dyg.Slice(i, 8));
                var sg = one / (one + VectorExp.Exp(-zv));
                (gy * zv * sg).CopyTo(dy.Slice(i, 8));
                (gy * Vector256.Create(y.Slice(i, 8)) * sg * (one + zv * (one - sg))).CopyTo(dz.Slice(i, 8));
            }
        }
        GateBackwardScalar(dyg[i..], y[i..], z[i..], dy[i..], dz[i..]);
    }

    /// <summary>Scalar reference of <see cref="GateBackward"/>.</summary>
    public static void GateBackwardScalar(ReadOnlySpan<float> dyg, ReadOnlySpan<float> y, ReadOnlySpan<float> z, Span<float> dy, Span<float> dz)
    {
        for (int i = 0; i < y.Length; i++)
        {
            float sg = 1 / (1 + MathF.Exp(-z[i]));
            dy[i] = dyg[i] * z[i] * sg;
            dz[i] = dyg[i] * y[i] * sg * (1 + z[i] * (1 - sg));
        }
    }
}
