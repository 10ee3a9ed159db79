using FalconMamba.Formats.Gguf;
using FalconMamba.Kernels;
using FalconMamba.Model;

namespace FalconMamba.Bench;

/// <summary>
/// `pad-dt-rank --model DIR --dt-rank R --out FILE.gguf`: writes an F32 GGUF of a model that computes the same function
/// with a larger dt_rank, so that llama.cpp can quantize it. Why: llama.cpp's Q8_0/Q4_0 quantizer needs every matrix's
/// in_features to be a multiple of 32, and dt_proj's in_features is dt_rank (16 in the shipped tiny model), so the KL
/// comparison of our quantizer with llama.cpp's needs an equivalent model with dt_rank 32.
/// How: the dt rows of x_proj are repeated f = R / dt_rank times and dt_proj's columns repeated with weights ÷ f. The
/// time-step vector becomes [dt, dt, …]; its weightless RMS norm (Falcon Mamba) is unchanged, because the mean of the
/// squares of the repeated vector equals the original's; and dt_proj sums f copies of w/f·dt = w·dt (÷ f is exact for
/// f a power of two). Only f32 summation order changes; the tool prints the logit difference on a few tokens.
/// </summary>
static class PadDtRank
{
    public static int Run(Func<string, string?, string> arg)
    {
        string dir = arg("--model", null), outPath = arg("--out", null);
        int target = int.Parse(arg("--dt-rank", "32"));
        using var model = MambaModel.Load(dir);
        var w = model.Weights;
        var c = w.Config;
        int r = c.TimeStepRank, n = c.StateSize, e = c.IntermediateSize;
        if (target % r != 0 || !int.IsPow2(target / r))
            throw new ArgumentException($"--dt-rank {target} must be dt_rank ({r}) times a power of two");
        int f = target / r;
        var layers = w.Layers.Select(L =>
        {
            var x = L.XProj.ToFloat32();        // [R + 2N, E]
            var xp = new float[(target + 2 * n) * e];
            for (int row = 0; row < target; row++) x.AsSpan((row % r) * e, e).CopyTo(xp.AsSpan(row * e, e));
            x.AsSpan(r * e, 2 * n * e).CopyTo(xp.AsSpan(target * e));
            var dt = L.DtProj.ToFloat32();      // [E, R]
            var dp = new float[e * target];
            for (int ch = 0; ch < e; ch++)
                for (int j = 0; j < target; j++) dp[ch * target + j] = dt[ch * r + j % r] / f;
            return new MambaLayerWeights
            {
                Norm = L.Norm, InProj = L.InProj, InProjBias = L.InProjBias, ConvWeight = L.ConvWeight, ConvBias = L.ConvBias,
                XProj = new F32Matrix(xp, target + 2 * n, e), DtProj = new F32Matrix(dp, e, target),
                DtBias = L.DtBias, A = L.A, D = L.D, OutProj = L.OutProj, OutProjBias = L.OutProjBias,
            };
        }).ToArray();
        var padded = new MambaWeights(c with { TimeStepRank = target }, w.Embedding, layers, w.NormF, w.LmHead, []);
        var tok = GgufTokenizerMetadata.FromHuggingFace(dir, c.VocabSize);
        string tmp = outPath + ".tmp";
        GgufModelWriter.Write(tmp, padded, TensorType.F32, tok, name: Path.GetFileName(Path.GetFullPath(dir).TrimEnd('/')) + $"-dt{target}");
        File.Move(tmp, outPath, overwrite: true);

        // equivalence check on a few tokens: the unpadded model written the same way (a GGUF carries one eps, which
        // llama.cpp also uses for the B/C/dt norms, so compare GGUF with GGUF) vs the padded file
        string orig = outPath + ".unpadded.tmp.gguf";
        GgufModelWriter.Write(orig, w, TensorType.F32, tok);
        using var model1 = MambaModel.Load(orig);
        File.Delete(orig);
        using var back = MambaModel.Load(outPath);
        int[] ids = [1, 17, 300, 42, 999 % c.VocabSize, 7, 7, 256];
        using var c1 = model1.CreateContext(1); using var c2 = back.CreateContext(1);
        var s1 = model1.CreateState(); var s2 = back.CreateState();
        double worst = 0, scale = 0;
        foreach (int id in ids)
        {
            var a = c1.Decode(id, s1).ToArray(); var b = c2.Decode(id, s2);
            for (int i = 0; i < a.Length; i++) { worst = Math.Max(worst, Math.Abs(a[i] - b[i])); scale = Math.Max(scale, Math.Abs(a[i])); }
        }
        Console.WriteLine($"wrote {outPath}: dt_rank {r} → {target}; max |Δlogit| over {ids.Length} tokens {worst:E2} (max |logit| {scale:F2})");
        return 0;
    }
}
