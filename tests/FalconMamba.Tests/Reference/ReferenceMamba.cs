using FalconMamba.Model;

namespace FalconMamba.Tests.Reference;

/// <summary>
/// An independent float64 implementation of the Hugging Face FalconMamba / Mamba forward (SPEC.md §2.1–2.2), written
/// as straight loops with no code shared with the engine's kernels. Parameters are double arrays keyed by their HF
/// tensor names (A_log, not A). Used as the oracle for logits and, through <see cref="Loss"/>, for finite-difference
/// gradient checks.
/// </summary>
public static class ReferenceMamba
{
    /// <summary>Logits for every position: [T][V].</summary>
    public static double[][] Logits(MambaConfig cfg, IReadOnlyDictionary<string, double[]> p, int[] tokens)
    {
        int T = tokens.Length, D = cfg.HiddenSize, E = cfg.IntermediateSize, N = cfg.StateSize, R = cfg.TimeStepRank, K = cfg.ConvKernel, V = cfg.VocabSize;
        double[] emb = p.TryGetValue("backbone.embeddings.weight", out var e0) ? e0 : p["backbone.embedding.weight"];
        var h = new double[T][];
        for (int t = 0; t < T; t++) { h[t] = new double[D]; Array.Copy(emb, tokens[t] * D, h[t], 0, D); }

        for (int l = 0; l < cfg.NumHiddenLayers; l++)
        {
            string pre = $"backbone.layers.{l}.";
            var normW = p[pre + "norm.weight"];
            var inW = p[pre + "mixer.in_proj.weight"];
            p.TryGetValue(pre + "mixer.in_proj.bias", out var inB);
            var convW = p[pre + "mixer.conv1d.weight"];
            p.TryGetValue(pre + "mixer.conv1d.bias", out var convB);
            var xW = p[pre + "mixer.x_proj.weight"];
            var dtW = p[pre + "mixer.dt_proj.weight"];
            var dtB = p[pre + "mixer.dt_proj.bias"];
            var aLog = p[pre + "mixer.A_log"];
            var dSkip = p[pre + "mixer.D"];
            var outW = p[pre + "mixer.out_proj.weight"];
            p.TryGetValue(pre + "mixer.out_proj.bias", out var outB);

            var x = new double[T][]; var z = new double[T][];
            for (int t = 0; t < T; t++)
            {
                var u = RmsNorm(h[t], normW, cfg.LayerNormEpsilon);
                x[t] = new double[E]; z[t] = new double[E];
                for (int o = 0; o < 2 * E; o++)
                {
                    double s = inB?[o] ?? 0;
                    for (int i = 0; i < D; i++) s += inW[o * D + i] * u[i];
                    if (o < E) x[t][o] = s; else z[t][o - E] = s;
                }
            }
            // causal depthwise conv: tap K-1 multiplies the current token
            var xc = new double[T][];
            for (int t = 0; t < T; t++)
            {
                xc[t] = new double[E];
                for (int c = 0; c < E; c++)
                {
                    double s = convB?[c] ?? 0;
                    for (int j = 0; j < K; j++)
                    {
                        int tau = t - (K - 1) + j;
                        if (tau >= 0) s += convW[c * K + j] * x[tau][c];
                    }
                    xc[t][c] = s / (1 + Math.Exp(-s));   // SiLU
                }
            }
            var state = new double[E, N];
            var y = new double[T][];
            for (int t = 0; t < T; t++)
            {
                var dbl = new double[R + 2 * N];
                for (int o = 0; o < R + 2 * N; o++)
                {
                    double s = 0;
                    for (int i = 0; i < E; i++) s += xW[o * E + i] * xc[t][i];
                    dbl[o] = s;
                }
                var dt = dbl[..R]; var B = dbl[R..(R + N)]; var C = dbl[(R + N)..];
                if (cfg.ModelType == "falcon_mamba")
                {
                    dt = RmsNorm(dt, null, cfg.MixerRmsEps);
                    B = RmsNorm(B, null, cfg.MixerRmsEps);
                    C = RmsNorm(C, null, cfg.MixerRmsEps);
                }
                y[t] = new double[E];
                for (int c = 0; c < E; c++)
                {
                    double s = dtB[c];
                    for (int i = 0; i < R; i++) s += dtW[c * R + i] * dt[i];
                    double delta = s > 20 ? s : Math.Log(1 + Math.Exp(s));
                    double acc = 0;
                    for (int nn = 0; nn < N; nn++)
                    {
                        double a = -Math.Exp(aLog[c * N + nn]);
                        state[c, nn] = Math.Exp(delta * a) * state[c, nn] + delta * B[nn] * xc[t][c];
                        acc += state[c, nn] * C[nn];
                    }
                    acc += dSkip[c] * xc[t][c];
                    double g = z[t][c];
                    y[t][c] = acc * g / (1 + Math.Exp(-g));
                }
            }
            for (int t = 0; t < T; t++)
                for (int o = 0; o < D; o++)
                {
                    double s = outB?[o] ?? 0;
                    for (int i = 0; i < E; i++) s += outW[o * E + i] * y[t][i];
                    h[t][o] += s;
                }
        }
        double[] head = !cfg.TieWordEmbeddings && p.TryGetValue("lm_head.weight", out var lm) ? lm : emb;
        var logits = new double[T][];
        for (int t = 0; t < T; t++)
        {
            var f = RmsNorm(h[t], p["backbone.norm_f.weight"], cfg.LayerNormEpsilon);
            logits[t] = new double[V];
            for (int v = 0; v < V; v++)
            {
                double s = 0;
                for (int i = 0; i < D; i++) s += head[v * D + i] * f[i];
                logits[t][v] = s;
            }
        }
        return logits;
    }

    /// <summary>Mean cross-entropy of predicting targets[t] from the logits at position t.</summary>
    public static double Loss(MambaConfig cfg, IReadOnlyDictionary<string, double[]> p, int[] tokens, int[] targets)
    {
        var logits = Logits(cfg, p, tokens);
        double total = 0;
        for (int t = 0; t < tokens.Length; t++)
        {
            double max = logits[t].Max();
            double lse = max + Math.Log(logits[t].Sum(v => Math.Exp(v - max)));
            total += lse - logits[t][targets[t]];
        }
        return total / tokens.Length;
    }

    static double[] RmsNorm(double[] x, double[]? w, double eps)
    {
        double ss = 0;
        foreach (var v in x) ss += v * v;
        double inv = 1 / Math.Sqrt(ss / x.Length + eps);
        var y = new double[x.Length];
        for (int i = 0; i < x.Length; i++) y[i] = x[i] * inv * (w?[i] ?? 1);
        return y;
    }
}
