using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using FalconMamba.Formats.Safetensors;
using FalconMamba.Kernels;
using FalconMamba.Kernels.Quantized;
using FalconMamba.Model;

namespace FalconMamba.Formats.Gguf;

/// <summary>
/// Converts between a Hugging Face model folder (config.json + safetensors [+ tokenizer.json]) and a llama.cpp GGUF,
/// streaming tensor by tensor from memory maps (a 7B model converts in a few GiB of RAM).
/// </summary>
public static class GgufConverter
{
    /// <summary>
    /// HF folder → GGUF with the matrices as <paramref name="type"/> (SPEC.md §4.2, §5.1); the tokenizer (vocab, merges,
    /// special ids, chat template) is embedded when the folder has a tokenizer.json.
    /// </summary>
    public static void HuggingFaceToGguf(string folder, string outPath, TensorType type, IProgress<double>? progress = null)
    {
        using var w = ModelLoader.LoadWeights(folder, new ModelLoadOptions());
        var tok = GgufTokenizerMetadata.FromHuggingFace(folder, w.Config.VocabSize);
        GgufModelWriter.Write(outPath, w, type, tok, progress, name: Path.GetFileName(Path.GetFullPath(folder).TrimEnd(Path.DirectorySeparatorChar)));
    }

    /// <summary>
    /// GGUF → HF folder: config.json, model.safetensors (F32/F16/BF16 files keep their type — every tensor, vectors included,
    /// in that dtype as HF stores them; quantized files are dequantized to F32) and, when the GGUF has tokenizer keys,
    /// tokenizer.json (byte-level BPE with the pre-tokenizer named by tokenizer.ggml.pre) and tokenizer_config.json (chat template and special tokens). <c>mixer_rms_eps</c> is written as the layer-norm eps,
    /// which is what llama.cpp uses for the B/C/dt norms of this file (SPEC.md §4.3).
    /// A_log = log(−A) is recovered from GGUF's A = −exp(A_log), picking the value whose exp reproduces A exactly.
    /// </summary>
    public static void GgufToHuggingFace(string ggufPath, string outFolder, IProgress<double>? progress = null)
    {
        var (w, file) = GgufModelLoader.Load(ggufPath);
        using (w)
        {
            var c = w.Config;
            string dtype = w.Embedding.Type switch { TensorType.F16 => "F16", TensorType.BF16 => "BF16", _ => "F32" };
            Directory.CreateDirectory(outFolder);
            File.WriteAllText(Path.Combine(outFolder, "config.json"), (c with { TorchDtype = dtype switch { "F16" => "float16", "BF16" => "bfloat16", _ => "float32" } }).ToJson());
            var entries = new List<SafetensorsEntry>();
            void Matrix(string name, WeightMatrix m) => entries.Add(new SafetensorsEntry(name, dtype, [m.Rows, m.Cols], s => WriteMatrix(s, m, dtype)));
            void Vector(string name, float[] v, params long[] shape) => entries.Add(SafetensorsEntry.FromFloat32(name, shape, v, dtype));
            int d = c.HiddenSize, e = c.IntermediateSize, n = c.StateSize, k = c.ConvKernel;
            Matrix("backbone.embeddings.weight", w.Embedding);
            for (int i = 0; i < w.Layers.Count; i++)
            {
                var L = w.Layers[i];
                string p = $"backbone.layers.{i}.";
                Vector(p + "norm.weight", L.Norm, d);
                Matrix(p + "mixer.in_proj.weight", L.InProj);
                if (L.InProjBias != null) Vector(p + "mixer.in_proj.bias", L.InProjBias, 2 * e);
                Vector(p + "mixer.conv1d.weight", L.ConvWeight, e, 1, k);
                if (L.ConvBias != null) Vector(p + "mixer.conv1d.bias", L.ConvBias, e);
                Matrix(p + "mixer.x_proj.weight", L.XProj);
                Matrix(p + "mixer.dt_proj.weight", L.DtProj);
                Vector(p + "mixer.dt_proj.bias", L.DtBias, e);
                Vector(p + "mixer.A_log", L.A.Select(a => ALog(a, dtype)).ToArray(), e, n);
                Vector(p + "mixer.D", L.D, e);
                Matrix(p + "mixer.out_proj.weight", L.OutProj);
                if (L.OutProjBias != null) Vector(p + "mixer.out_proj.bias", L.OutProjBias, d);
            }
            Vector("backbone.norm_f.weight", w.NormF, d);
            if (!ReferenceEquals(w.LmHead, w.Embedding)) Matrix("lm_head.weight", w.LmHead);
            long total = entries.Sum(x => x.ByteLength), done = 0;
            var tracked = entries.Select(x => x with { WriteData = s => { x.WriteData(s); done += x.ByteLength; progress?.Report((double)done / total); } }).ToList();
            SafetensorsWriter.Write(Path.Combine(outFolder, "model.safetensors"), tracked, new Dictionary<string, string> { ["format"] = "pt" });

            var tok = GgufTokenizerMetadata.FromFile(file);
            if (tok != null && tok.Model == "gpt2")
            {
                var tc = new JsonObject { ["tokenizer_class"] = "PreTrainedTokenizerFast" };
                if (tok.BosTokenId is int b) tc["bos_token"] = tok.Tokens[b];
                if (tok.EosTokenId is int eo) tc["eos_token"] = tok.Tokens[eo];
                if (tok.PaddingTokenId is int pd) tc["pad_token"] = tok.Tokens[pd];
                if (tok.AddBosToken is bool ab) tc["add_bos_token"] = ab;
                if (tok.ChatTemplate != null) tc["chat_template"] = tok.ChatTemplate;
                File.WriteAllText(Path.Combine(outFolder, "tokenizer_config.json"), tc.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
                // tokenizer.json from tokenizer.ggml.tokens / merges / token_type (3 = control → special, 4 = user-defined → added).
                var merges = (tok.Merges ?? []).Select((m, i) =>
                {
                    int sp = m.IndexOf(' ');
                    return sp > 0 ? (m[..sp], m[(sp + 1)..]) : throw new ModelFormatException($"{ggufPath}: tokenizer.ggml.merges[{i}] '{m}' is not two tokens separated by a space");
                }).ToList();
                var added = tok.TokenTypes == null ? [] : Enumerable.Range(0, tok.Tokens.Length)
                    .Where(i => tok.TokenTypes[i] is 3 or 4).Select(i => (i, tok.Tokens[i], tok.TokenTypes[i] == 3)).ToList();
                Tokenization.Trainer.BpeTrainer.WriteTokenizerJson(Path.Combine(outFolder, "tokenizer.json"), tok.Tokens, merges, added, tok.Pre ?? "gpt-2");
            }
        }
    }

    /// <summary>
    /// The A_log (rounded to <paramref name="dtype"/>) whose f32 −exp reproduces <paramref name="a"/>: log(−A) in f64,
    /// then the nearest representable neighbours are tried, since exp is many-to-one near A_log ≈ 0.
    /// </summary>
    static float ALog(float a, string dtype)
    {
        float guess = (float)Math.Log(-(double)a);
        float Round(float v) => dtype switch { "BF16" => BFloat16.ToSingle(BFloat16.FromSingle(v)), "F16" => (float)(Half)v, _ => v };
        float best = Round(guess);
        if (float.IsNaN(best) || -MathF.Exp(best) == a) return best;
        for (int step = 1; step <= 4; step++)
            foreach (float cand in new[] { Next(best, step, dtype), Next(best, -step, dtype) })
                if (-MathF.Exp(cand) == a) return cand;
        return best;
    }

    static float Next(float v, int steps, string dtype)
    {
        switch (dtype)
        {
            case "BF16": { ushort b = BFloat16.FromSingle(v); return BFloat16.ToSingle((ushort)(v >= 0 ? b + steps : b - steps)); }
            case "F16": { ushort h = BitConverter.HalfToUInt16Bits((Half)v); return (float)BitConverter.UInt16BitsToHalf((ushort)(v >= 0 ? h + steps : h - steps)); }
            default: { int bits = BitConverter.SingleToInt32Bits(v); return BitConverter.Int32BitsToSingle(v >= 0 ? bits + steps : bits - steps); }
        }
    }

    /// <summary>Streams a matrix as rows of <paramref name="dtype"/>: raw bytes when the stored type matches, else via f32.</summary>
    static unsafe void WriteMatrix(Stream s, WeightMatrix m, string dtype)
    {
        var row = new float[m.Cols];
        int es = dtype == "F32" ? 4 : 2;
        var buf = new byte[(long)m.Cols * es];
        var target = dtype switch { "F16" => TensorType.F16, "BF16" => TensorType.BF16, _ => TensorType.F32 };
        for (int r = 0; r < m.Rows; r++)
        {
            m.DequantizeRow(r, row);   // exact for F32/F16/BF16 storage; re-encoding below is then lossless
            Quantizers.QuantizeRow(target, row, buf);
            s.Write(buf);
        }
    }
}
