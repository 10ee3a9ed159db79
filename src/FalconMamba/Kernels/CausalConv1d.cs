using System.Numerics.Tensors;

namespace FalconMamba.Kernels;

/// <summary>
/// Depthwise causal conv1d over a chunk, carrying the last k−1 inputs across chunks (SPEC.md §2.2 step 3):
/// out[t, c] = bias[c] + Σ_{j=0}^{k−1} W[c, j] · x[t−(k−1)+j, c], with x[τ &lt; 0] read from the conv state.
/// Tap k−1 multiplies the current token (PyTorch cross-correlation, no flip).
/// </summary>
public static class CausalConv1d
{
    /// <summary>
    /// Scalar reference. x: [T, E] (row stride xStride); state: [k−1, E] oldest first; weight: [E, k]; out: [T, E].
    /// Updates <paramref name="state"/> to the last k−1 inputs.
    /// </summary>
    public static void ForwardScalar(ReadOnlySpan<float> x, int xStride, int T, int E, int k, Span<float> state, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, Span<float> output)
    {
        for (int t = 0; t < T; t++)
            for (int c = 0; c < E; c++)
            {
                float s = bias.IsEmpty ? 0f : bias[c];
                for (int j = 0; j < k; j++)
                {
                    int tau = t - (k - 1) + j;
                    float v = tau >= 0 ? x[tau * xStride + c] : state[(k - 1 + tau) * E + c];
                    s += weight[c * k + j] * v;
                }
                output[t * E + c] = s;
            }
        UpdateState(x, xStride, T, E, k, state);
    }

    /// <summary>
    /// Vectorized over channels. weightT is the transposed weight [k, E] (tap-major). Same contract as the reference.
    /// </summary>
    public static void Forward(ReadOnlySpan<float> x, int xStride, int T, int E, int k, Span<float> state, ReadOnlySpan<float> weightT, ReadOnlySpan<float> bias, Span<float> output)
    {
        for (int t = 0; t < T; t++)
        {
            var o = output.Slice(t * E, E);
            if (bias.IsEmpty) o.Clear(); else bias.CopyTo(o);
            for (int j = 0; j < k; j++)
            {
                int tau = t - (k - 1) + j;
                ReadOnlySpan<float> src = tau >= 0 ? x.Slice(tau * xStride, E) : state.Slice((k - 1 + tau) * E, E);
                TensorPrimitives.FusedMultiplyAdd(src, weightT.Slice(j * E, E), o, o);
            }
        }
        UpdateState(x, xStride, T, E, k, state);
    }

    static void UpdateState(ReadOnlySpan<float> x, int xStride, int T, int E, int k, Span<float> state)
    {
        int keep = k - 1;
        if (keep == 0) return;
        // New state = last k−1 rows of (old state ++ x[0..T)).
        if (T >= keep)
        {
            for (int i = 0; i < keep; i++) x.Slice((T - keep + i) * xStride, E).CopyTo(state.Slice(i * E, E));
        }
        else
        {
            // shift old rows left by T, then append the T new rows
            state.Slice(T * E, (keep - T) * E).CopyTo(state);
            for (int i = 0; i < T; i++) x.Slice(i * xStride, E).CopyTo(state.Slice((keep - T + i) * E, E));
        }
    }
}
