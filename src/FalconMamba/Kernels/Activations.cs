using System.Numerics.Tensors;

namespace FalconMamba.Kernels;

/// <summary>Element-wise activations with torch's exact definitions.</summary>
public static class Activations
{
    /// <summary>softplus(v) = log(1 + exp(v)), returning v itself when v &gt; 20 (torch threshold; SPEC.md pitfall 8).
    /// Evaluated in double as log1p(exp(v)) so tiny results keep their precision.</summary>
    public static float Softplus(float v)
    {
        if (v > 20f) return v;
        double u = Math.Exp(v);
        return (float)(u < 1e-5 ? u - u * u / 2 : Math.Log(1 + u));
    }

    /// <summary>silu(v) = v · sigmoid(v) — scalar reference.</summary>
    public static float Silu(float v) => v / (1f + MathF.Exp(-v));

    /// <summary>In-place SiLU over a span (vectorized via TensorPrimitives: x · sigmoid(x)).</summary>
    public static void SiluInPlace(Span<float> x, Span<float> scratch)
    {
        var sig = scratch[..x.Length];
        TensorPrimitives.Sigmoid(x, sig);
        TensorPrimitives.Multiply(x, sig, x);
    }

    /// <summary>In-place softplus over a span.</summary>
    public static void SoftplusInPlace(Span<float> x)
    {
        for (int i = 0; i < x.Length; i++) x[i] = Softplus(x[i]);
    }
}
