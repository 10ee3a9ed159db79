using System.Numerics.Tensors;

namespace FalconMamba.Kernels;

/// <summary>
/// RMSNorm (T5/Llama style, HF <c>rms_forward</c>): y = x / sqrt(mean(x²) + eps) · weight, computed in f32.
/// The weightless variant is Falcon Mamba's norm on B, C and dt (SPEC.md §2.2 step 7).
/// </summary>
public static class RmsNorm
{
    /// <summary>Scalar reference; returns 1/√(mean(x²) + eps) (the trainer keeps it for the backward).</summary>
    public static float ForwardScalar(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, Span<float> y, float eps)
    {
        float ss = 0;
        for (int i = 0; i < x.Length; i++) ss += x[i] * x[i];
        float inv = 1f / MathF.Sqrt(ss / x.Length + eps);
        for (int i = 0; i < x.Length; i++) y[i] = x[i] * inv * (weight.IsEmpty ? 1f : weight[i]);
        return inv;
    }

    /// <summary>
    /// y = x · rsqrt(mean(x²)+eps) · weight (weight empty = weightless). x and y may alias. Returns the rsqrt factor
    /// (the trainer keeps it per row for the backward).
    /// </summary>
    public static float Forward(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, Span<float> y, float eps)
    {
        float inv = 1f / MathF.Sqrt(TensorPrimitives.SumOfSquares(x) / x.Length + eps);
        if (weight.IsEmpty) TensorPrimitives.Multiply(x, inv, y);
        else
        {
            TensorPrimitives.Multiply(x, inv, y);
            TensorPrimitives.Multiply(y, weight, y);
        }
        return inv;
    }

    /// <summary>Applies <see cref="Forward"/> to each of T rows of width <paramref name="width"/> with a row stride.</summary>
    public static void Rows(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, Span<float> y, int T, int width, int stride, float eps)
    {
        for (int t = 0; t < T; t++) Forward(x.Slice(t * stride, width), weight, y.Slice(t * stride, width), eps);
    }
}
