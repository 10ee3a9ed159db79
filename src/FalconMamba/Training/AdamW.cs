using System.Runtime.Intrinsics;
using FalconMamba.Formats.Safetensors;

namespace FalconMamba.Training;

/// <summary>AdamW hyper-parameters.</summary>
public sealed record AdamWOptions
{
    /// <summary>β1 (the Falcon Mamba card does not state betas; 0.9 / 0.95 are the common LLM choice).</summary>
    public double Beta1 { get; init; } = 0.9;
    /// <summary>β2.</summary>
    public double Beta2 { get; init; } = 0.95;
    /// <summary>ε added to √v̂.</summary>
    public double Epsilon { get; init; } = 1e-8;
    /// <summary>Decoupled weight decay λ (card: 0.1), applied as θ ← θ − η·λ·θ.</summary>
    public double WeightDecay { get; init; } = 0.1;
    /// <summary>
    /// Name suffixes of tensors exempt from weight decay. Default: norms, biases, A_log and D (<c>_no_weight_decay</c> in
    /// HF and state-spaces/mamba, SPEC.md §7) and the embedding (so also a tied lm_head).
    /// </summary>
    public IReadOnlyList<string> NoDecay { get; init; } = ["norm.weight", "norm_f.weight", ".bias", ".A_log", ".D", "embeddings.weight"];
}

/// <summary>
/// AdamW (Loshchilov &amp; Hutter 2019, "Decoupled Weight Decay Regularization"; the update of torch.optim.AdamW):
/// θ ← θ·(1 − ηλ); m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²; θ ← θ − η·(m/(1−β1ᵗ)) / (√(v/(1−β2ᵗ)) + ε).
/// Moments are f32 arrays in the parameter layout; the state saves to safetensors (<c>m.&lt;name&gt;</c>, <c>v.&lt;name&gt;</c>).
/// </summary>
public sealed class AdamW
{
    readonly MambaParameters _m, _v;
    readonly bool[] _decay;
    /// <summary>The options.</summary>
    public AdamWOptions Options { get; }
    /// <summary>Updates done so far (t of the bias correction).</summary>
    public long Step { get; private set; }

    /// <summary>Creates zeroed moments for <paramref name="p"/>'s layout.</summary>
    public AdamW(MambaParameters p, AdamWOptions options)
    {
        Options = options;
        _m = p.ZerosLike();
        _v = p.ZerosLike();
        _decay = p.Tensors.Select(t => !options.NoDecay.Any(s => t.Name.EndsWith(s, StringComparison.Ordinal))).ToArray();
    }

    /// <summary>Whether tensor <paramref name="index"/> (in layout order) is decayed.</summary>
    public bool Decays(int index) => _decay[index];

    /// <summary>One update of <paramref name="p"/> from gradients <paramref name="g"/> at learning rate <paramref name="lr"/>.</summary>
    public void Update(MambaParameters p, MambaParameters g, double lr)
    {
        Step++;
        double b1 = Options.Beta1, b2 = Options.Beta2;
        float c1 = (float)(1 / (1 - Math.Pow(b1, Step))), c2 = (float)(1 / (1 - Math.Pow(b2, Step)));
        float fb1 = (float)b1, fb2 = (float)b2, eps = (float)Options.Epsilon, flr = (float)lr;
        Parallel.For(0, p.Tensors.Count, i =>
        {
            var th = p.Tensors[i].Data; var gr = g.Tensors[i].Data; var m = _m.Tensors[i].Data; var v = _v.Tensors[i].Data;
            float shrink = _decay[i] ? (float)(1 - lr * Options.WeightDecay) : 1f;
            int j = 0;
            if (Vector256.IsHardwareAccelerated)
            {
                // the loop below, 8 at a time with the same operations in the same order (no FMA contraction; √ and ÷ are
                // correctly rounded in both), so the update is bit-identical to it
                var vb1 = Vector256.Create(fb1); var vb1c = Vector256.Create(1 - fb1);
                var vb2 = Vector256.Create(fb2); var vb2c = Vector256.Create(1 - fb2);
                var vc1 = Vector256.Create(c1); var vc2 = Vector256.Create(c2);
                var veps = Vector256.Create(eps); var vlr = Vector256.Create(flr);
                var vshrink = Vector256.Create(shrink);
                for (; j + 8 <= th.Length; j += 8)
                {
                    var gj = Vector256.Create(gr, j);
                    var mj = vb1 * Vector256.Create(m, j) + vb1c * gj;
                    var vj = vb2 * Vector256.Create(v, j) + vb2c * gj * gj;
                    mj.CopyTo(m, j); vj.CopyTo(v, j);
                    (Vector256.Create(th, j) * vshrink - vlr * (mj * vc1) / (Vector256.Sqrt(vj * vc2) + veps)).CopyTo(th, j);
                }
            }
            for (; j < th.Length; j++)
            {
                float gj = gr[j];
                m[j] = fb1 * m[j] + (1 - fb1) * gj;
                v[j] = fb2 * v[j] + (1 - fb2) * gj * gj;
                th[j] = th[j] * shrink - flr * (m[j] * c1) / (MathF.Sqrt(v[j] * c2) + eps);
            }
        });
    }

    /// <summary>
    /// Scales <paramref name="g"/> so its global L2 norm is at most <paramref name="maxNorm"/> (no-op when ≤ 0) and returns
    /// the norm before clipping. The sum runs in float64 over tensors in layout order (deterministic).
    /// </summary>
    public static double ClipGlobalNorm(MambaParameters g, double maxNorm)
    {
        double ss = 0;
        foreach (var t in g.Tensors) { double s = 0; foreach (var x in t.Data) s += (double)x * x; ss += s; }
        double norm = Math.Sqrt(ss);
        if (maxNorm > 0 && norm > maxNorm)
        {
            float f = (float)(maxNorm / (norm + 1e-6));
            foreach (var t in g.Tensors) System.Numerics.Tensors.TensorPrimitives.Multiply(t.Data, f, t.Data);
        }
        return norm;
    }

    /// <summary>Writes moments and step (temp file + rename).</summary>
    public void Save(string path)
    {
        var entries = new List<SafetensorsEntry>();
        foreach (var t in _m.Tensors) entries.Add(SafetensorsEntry.FromFloat32("m." + t.Name, t.Shape, t.Data));
        foreach (var t in _v.Tensors) entries.Add(SafetensorsEntry.FromFloat32("v." + t.Name, t.Shape, t.Data));
        SafetensorsWriter.Write(path, entries, new Dictionary<string, string> { ["step"] = Step.ToString(System.Globalization.CultureInfo.InvariantCulture) });
    }

    /// <summary>Restores moments and step written by <see cref="Save"/>; a missing or mis-shaped tensor is an error naming it.</summary>
    public void Load(string path)
    {
        using var f = SafetensorsFile.Open(path);
        foreach (var (prefix, set) in new[] { ("m.", _m), ("v.", _v) })
            foreach (var t in set.Tensors)
            {
                if (!f.Tensors.TryGetValue(prefix + t.Name, out var info)) throw new ModelFormatException($"{path}: optimizer tensor '{prefix}{t.Name}' is missing");
                if (info.DType != "F32" || info.ElementCount != t.Data.Length) throw new ModelFormatException($"{path}: optimizer tensor '{prefix}{t.Name}' is {info.DType} {info.ShapeText}, expected F32 [{string.Join(", ", t.Shape)}]");
                f.ReadFloat32(info).CopyTo(t.Data, 0);
            }
        if (!f.Metadata.TryGetValue("step", out var s) || !long.TryParse(s, System.Globalization.CultureInfo.InvariantCulture, out var step) || step < 0)
            throw new ModelFormatException($"{path}: metadata 'step' is missing or not a non-negative integer");
        Step = step;
    }
}
