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
    /// Vectorized over the state dimension N. exp(Δ·A) for a block of channels × the whole chunk is computed in one
    /// <see cref="TensorPrimitives.Exp(ReadOnlySpan{float}, Span{float})"/> call into <paramref name="scratch"/>
    /// ([channels, T, N]; as many channels as it holds), then each channel's recurrence runs with h held in vector
    /// registers (N = 16: two Vector256). Why blocks of channels: a decode step (T = 1) has only N = 16 values per
    /// channel, and one call per channel cost more in call overhead than the exponentials themselves; the values
    /// and their order per element are the same whatever the block, so decode and prefill stay bit-identical.
    /// </summary>
    public static void Forward(int T, int E, int N, int cStart, int cEnd,
        ReadOnlySpan<float> x, int xStride, ReadOnlySpan<float> delta, ReadOnlySpan<float> z, int zStride,
        ReadOnlySpan<float> B, ReadOnlySpan<float> C, ReadOnlySpan<float> A, ReadOnlySpan<float> D,
        Span<float> h, Span<float> y, Span<float> scratch)
    {
        int per = T * N;
        if (scratch.Length < per) throw new ArgumentException($"scan scratch holds {scratch.Length} floats, needs at least T·N = {per}", nameof(scratch));
        int block = Math.Max(1, scratch.Length / per);
        for (int c0 = cStart; c0 < cEnd; c0 += block)
        {
            int cb = Math.Min(block, cEnd - c0);
            var dA = scratch[..(cb * per)];
            // dA[j, t, :] = Δ[t, c0+j] · A[c0+j, :]
            for (int j = 0; j < cb; j++)
            {
                var a = A.Slice((c0 + j) * N, N);
                for (int t = 0; t < T; t++) Scale(a, delta[t * E + c0 + j], dA.Slice(j * per + t * N, N));
            }
            TensorPrimitives.Exp(dA, dA);
            for (int j = 0; j < cb; j++)
            {
                int c = c0 + j;
                var hc = h.Slice(c * N, N);
                var dAc = dA.Slice(j * per, per);
                if (N == 16 && Vector256.IsHardwareAccelerated)
                    Channel16(T, E, c, x, xStride, delta, z, zStride, B, C, D[c], dAc, hc, y);
                else
                    ChannelGeneric(T, E, N, c, x, xStride, delta, z, zStride, B, C, D[c], dAc, hc, y);
            }
        }
        // y *= silu(z) over the worker's channels, token by token (vectorized: one scalar exp per channel and token
        // cost as much as the rest of a decode step's scan)
        for (int t = 0; t < T; t++)
            Activations.MultiplyBySilu(y.Slice(t * E + cStart, cEnd - cStart), z.Slice(t * zStride + cStart, cEnd - cStart));
    }

    /// <summary>dst = a · s (inline: a TensorPrimitives call per 16 values costs more than the multiplies).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Scale(ReadOnlySpan<float> a, float s, Span<float> dst)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var sv = Vector256.Create(s);
            for (; i + 8 <= a.Length; i += 8) (Vector256.Create<float>(a.Slice(i, 8)) * sv).CopyTo(dst.Slice(i, 8));
        }
        for (; i < a.Length; i++) dst[i] = a[i] * s;
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
            y[t * E + c] = acc + dc * xv;   // gated below, for the whole channel range at once
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
            y[t * E + c] = acc + dc * xv;   // gated below
        }
    }
}
