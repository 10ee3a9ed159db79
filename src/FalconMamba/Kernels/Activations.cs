using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
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

    /// <summary>
    /// In-place softplus over a span, 8 lanes at a time: softplus(v) = max(v, 0) + log1p(exp(−|v|)) (the same function,
    /// written so exp cannot overflow), v itself above torch's threshold 20. log1p(u) for u ∈ (0, 1] uses Goldberg's
    /// correction log(w)·u / (w − 1) with w = fl(1 + u), which keeps full relative precision when u is tiny (plain
    /// log(1 + u) loses all of it below u ≈ 6e-8). Agrees with the scalar <see cref="Softplus"/> (evaluated in double)
    /// to a few ulp (KernelTests). Why vectorized: a decode step of the 130M shape ran 37k scalar double exp + log
    /// calls, 0.33 ms per token on one thread.
    /// </summary>
    public static void SoftplusInPlace(Span<float> x)
    {
        if (!Vector256.IsHardwareAccelerated)
        {
            for (int j = 0; j < x.Length; j++) x[j] = Softplus(x[j]);
            return;
        }
        ref float r0 = ref MemoryMarshal.GetReference(x);
        int i = 0;
        for (; i + 8 <= x.Length; i += 8) SoftplusVector(Vector256.LoadUnsafe(ref r0, (nuint)i)).StoreUnsafe(ref r0, (nuint)i);
        if (i < x.Length)
        {
            // the tail through the same vector formula, so a value's result never depends on its position in the span
            Span<float> tail = stackalloc float[8];
            x[i..].CopyTo(tail);
            SoftplusVector(Vector256.Create<float>(tail)).CopyTo(tail);
            tail[..(x.Length - i)].CopyTo(x[i..]);
        }
    }

    /// <summary>
    /// y[i] *= silu(z[i]) = z / (1 + exp(−z)), 8 lanes at a time; the tail through the same vector formula, so a value's
    /// result does not depend on where a span starts (worker splits). Scalar reference: <see cref="Silu"/>.
    /// </summary>
    public static void MultiplyBySilu(Span<float> y, ReadOnlySpan<float> z)
    {
        if (z.Length < y.Length) throw new ArgumentException($"gate has {z.Length} values, output {y.Length}");
        if (!Vector256.IsHardwareAccelerated)
        {
            for (int j = 0; j < y.Length; j++) y[j] *= Silu(z[j]);
            return;
        }
        ref float ry = ref MemoryMarshal.GetReference(y);
        ref float rz = ref MemoryMarshal.GetReference(z);
        int i = 0;
        for (; i + 8 <= y.Length; i += 8)
        {
            var zv = Vector256.LoadUnsafe(ref rz, (nuint)i);
            (Vector256.LoadUnsafe(ref ry, (nuint)i) * (zv / (Vector256.Create(1f) + Vector256.Exp(-zv)))).StoreUnsafe(ref ry, (nuint)i);
        }
        if (i < y.Length)
        {
            Span<float> ty = stackalloc float[8], tz = stackalloc float[8];
            int n = y.Length - i;
            y[i..].CopyTo(ty); z.Slice(i, n).CopyTo(tz);
            var zv = Vector256.Create<float>(tz);
            (Vector256.Create<float>(ty) * (zv / (Vector256.Create(1f) + Vector256.Exp(-zv)))).CopyTo(ty);
            ty[..n].CopyTo(y[i..]);
        }
    }

    static Vector256<float> SoftplusVector(Vector256<float> v)
    {
        var one = Vector256.Create(1f);
        var u = Vector256.Exp(-Vector256.Abs(v));                 // (0, 1]
        var w = one + u;
        // w == 1: u below half an ulp of 1, and log1p(u) = u to within u²/2
        var log1p = Vector256.ConditionalSelect(Vector256.Equals(w, one), u, Vector256.Log(w) * u / (w - one));
        var sp = Vector256.Max(v, Vector256<float>.Zero) + log1p;
        return Vector256.ConditionalSelect(Vector256.GreaterThan(v, Vector256.Create(20f)), v, sp);
    }
}
