using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace FalconMamba.Kernels;

/// <summary>
/// The selective scan with D skip and SiLU gate over a chunk of T tokens for a range of channels
/// (SPEC.md §2.2 steps 9–12; mamba-ssm <c>selective_scan_fwd_kernel.cuh</c>):
/// h_t = exp(Δ_t·A) ⊙ h_{t−1} + (Δ_t·x_t)·B_t;  y_t = h_t·C_t + D·x_t;  y_t *= silu(z_t).
/// Shapes: x, Δ, z, y: [T, E] (row strides given); B, C: [T, N]; A: [E, N]; D: [E]; h: [E, N] updated in place.
/// </summary>
public static class SelectiveScan
{
    /// <summary>Scalar reference (straight loops).</summary>
    public static void ForwardScalar(int T, int E, int N, int cStart, int cEnd,
        ReadOnlySpan<float> x, int xStride, ReadOnlySpan<float> delta, ReadOnlySpan<float> z, int zStride,
        ReadOnlySpan<float> B, ReadOnlySpan<float> C, ReadOnlySpan<float> A, ReadOnlySpan<float> D,
        Span<float> h, Span<float> y)
    {
        for (int c = cStart; c < cEnd; c++)
            for (int t = 0; t < T; t++)
            {
                float dt = delta[t * E + c], xv = x[t * xStride + c];
                float acc = 0;
                for (int n = 0; n < N; n++)
                {
                    float s = MathF.Exp(dt * A[c * N + n]) * h[c * N + n] + dt * xv * B[t * N + n];
                    h[c * N + n] = s;
                    acc += s * C[t * N + n];
                }
                acc += D[c] * xv;
                y[t * E + c] = acc * Activations.Silu(z[t * zStride + c]);
            }
    }

    /// <summary>
    /// Vectorized over the state dimension N. For each channel, exp(Δ·A) for the whole chunk is computed in one
    /// <see cref="TensorPrimitives.Exp(ReadOnlySpan{float}, Span{float})"/> call (scratch: T·N floats), then the
    /// recurrence runs with h held in vector registers (N = 16: one Vector512 or two Vector256).
    /// </summary>
    public static void Forward(int T, int E, int N, int cStart, int cEnd,
        ReadOnlySpan<float> x, int xStride, ReadOnlySpan<float> delta, ReadOnlySpan<float> z, int zStride,
        ReadOnlySpan<float> B, ReadOnlySpan<float> C, ReadOnlySpan<float> A, ReadOnlySpan<float> D,
        Span<float> h, Span<float> y, Span<float> scratch)
    {
        var dA = scratch[..(T * N)];
        for (int c = cStart; c < cEnd; c++)
        {
            var a = A.Slice(c * N, N);
            for (int t = 0; t < T; t++) TensorPrimitives.Multiply(a, delta[t * E + c], dA.Slice(t * N, N));
            TensorPrimitives.Exp(dA, dA);
            var hc = h.Slice(c * N, N);
            float dc = D[c];
            if (N == 16 && Vector256.IsHardwareAccelerated)
                Channel16(T, E, c, x, xStride, delta, z, zStride, B, C, dc, dA, hc, y);
            else
                ChannelGeneric(T, E, N, c, x, xStride, delta, z, zStride, B, C, dc, dA, hc, y);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Channel16(int T, int E, int c, ReadOnlySpan<float> x, int xStride, ReadOnlySpan<float> delta, ReadOnlySpan<float> z, int zStride,
        ReadOnlySpan<float> B, ReadOnlySpan<float> C, float dc, ReadOnlySpan<float> dA, Span<float> hc, Span<float> y)
    {
        var h0 = Vector256.Create<float>(hc[..8]);
        var h1 = Vector256.Create<float>(hc[8..16]);
        for (int t = 0; t < T; t++)
        {
            float xv = x[t * xStride + c];
            var dx = Vector256.Create(delta[t * E + c] * xv);
            var b = B.Slice(t * 16, 16);
            var cc = C.Slice(t * 16, 16);
            var da = dA.Slice(t * 16, 16);
            h0 = Vector256.FusedMultiplyAdd(Vector256.Create<float>(da[..8]), h0, dx * Vector256.Create<float>(b[..8]));
            h1 = Vector256.FusedMultiplyAdd(Vector256.Create<float>(da[8..]), h1, dx * Vector256.Create<float>(b[8..]));
            float acc = Vector256.Sum(h0 * Vector256.Create<float>(cc[..8]) + h1 * Vector256.Create<float>(cc[8..]));
            acc += dc * xv;
            float zv = z[t * zStride + c];
            y[t * E + c] = acc * (zv / (1f + MathF.Exp(-zv)));
        }
        h0.CopyTo(hc);
        h1.CopyTo(hc[8..]);
    }

    static void ChannelGeneric(int T, int E, int N, int c, ReadOnlySpan<float> x, int xStride, ReadOnlySpan<float> delta, ReadOnlySpan<float> z, int zStride,
        ReadOnlySpan<float> B, ReadOnlySpan<float> C, float dc, ReadOnlySpan<float> dA, Span<float> hc, Span<float> y)
    {
        for (int t = 0; t < T; t++)
        {
            float xv = x[t * xStride + c];
            float dx = delta[t * E + c] * xv;
            float acc = 0;
            for (int n = 0; n < N; n++)
            {
                float s = dA[t * N + n] * hc[n] + dx * B[t * N + n];
                hc[n] = s;
                acc += s * C[t * N + n];
            }
            acc += dc * xv;
            float zv = z[t * zStride + c];
            y[t * E + c] = acc * (zv / (1f + MathF.Exp(-zv)));
        }
    }
}
