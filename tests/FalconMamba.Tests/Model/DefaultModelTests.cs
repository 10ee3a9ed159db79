using FalconMamba.Evaluation;
using FalconMamba.Generation;
using FalconMamba.Model;
using FalconMamba.Tokenization;
using FalconMamba.Training;

namespace FalconMamba.Tests.Model;

/// <summary>
/// The model shipped in models/falcon-mamba-tiny-kjv (trained by this project's trainer on the King James Bible): it
/// loads, it has learned (held-out perplexity far below an untrained model's), and seeded generation is reproducible.
/// </summary>
public class DefaultModelTests
{
    static readonly string Dir = Path.Combine(TestPaths.RepoRoot, "models", "falcon-mamba-tiny-kjv");

    // A trained model must beat this on the committed held-out chapters; an untrained one scores ≈ the vocabulary size.
    const double PerplexityBound = 100;

    [Fact]
    public void HeldOutPerplexityIsThatOfATrainedModel()
    {
        var tok = Tokenizer.Load(Dir);
        int[] ids = tok.EncodeToIds(File.ReadAllText(Path.Combine(Dir, "valid-sample.txt")), addSpecialTokens: false);
        using var model = MambaModel.Load(Dir);
        using var ev = new Evaluator(model, 2, 64);
        var trained = ev.Perplexity(ids);
        using var untrained = new MambaModel(MambaParameters.Initialize(model.Config, seed: 1).ToWeights());
        using var ev0 = new Evaluator(untrained, 2, 64);
        var init = ev0.Perplexity(ids);
        TestContext.Current.TestOutputHelper?.WriteLine($"held-out perplexity over {trained.Tokens} tokens: trained {trained.Perplexity:F2}, untrained {init.Perplexity:F1}, bound {PerplexityBound}");
        Assert.True(trained.Perplexity < PerplexityBound, $"perplexity {trained.Perplexity:F2} ≥ {PerplexityBound}");
        Assert.True(init.Perplexity > 10 * PerplexityBound);
    }

    [Fact]
    public async Task SeededGenerationIsDeterministic()
    {
        var tok = Tokenizer.Load(Dir);
        using var model = MambaModel.Load(Dir);
        async Task<string> Run(SamplingOptions o)
        {
            using var g = new Generator(model, 2);
            var sb = new System.Text.StringBuilder();
            await foreach (var t in g.GenerateAsync(tok.EncodeToIds("And God said", addSpecialTokens: false), o, tok.CreateStreamingDecoder(true))) sb.Append(t.Text);
            return sb.ToString();
        }
        var greedy = new SamplingOptions { MaxNewTokens = 24 };
        Assert.Equal(await Run(greedy), await Run(greedy));
        var sampled = new SamplingOptions { DoSample = true, Temperature = 0.8f, TopP = 0.95f, Seed = 7, MaxNewTokens = 24 };
        string a = await Run(sampled);
        Assert.Equal(a, await Run(sampled));
        TestContext.Current.TestOutputHelper?.WriteLine("seeded sample: And God said" + a);
    }

    [Fact]
    public void LlamaCppRunsTheShippedGgufExportLikeWeDo()
    {
        string gguf = Path.Combine(Dir, "falcon-mamba-tiny-kjv-f16.gguf");
        var tok = Tokenizer.Load(Dir);
        int[] ids = tok.EncodeToIds("In the beginning God created the heaven and the earth.", addSpecialTokens: false);
        var theirs = FalconMamba.Tests.Oracles.LlamaCppOracle.Logits(gguf, ids);
        using var model = MambaModel.Load(gguf);
        using var ctx = model.CreateContext(2, 16);
        double maxDiff = 0, maxLogit = 0;
        ctx.Score(ids, model.CreateState(), (pos, logits) =>
        {
            for (int v = 0; v < logits.Length; v++)
            {
                maxDiff = Math.Max(maxDiff, Math.Abs(logits[v] - theirs[pos][v]));
                maxLogit = Math.Max(maxLogit, Math.Abs(theirs[pos][v]));
            }
        });
        TestContext.Current.TestOutputHelper?.WriteLine($"shipped F16 GGUF: ours vs llama.cpp max|Δ|/max|logit| = {maxDiff / maxLogit:E3} over {ids.Length} positions");
        // llama.cpp rounds activations to f16 in its F16 products (see the GGUF parity tests): 1e-3 relative.
        Assert.True(maxDiff / maxLogit <= 1e-3);
    }

    [Fact]
    public async Task TransformersReadsTheShippedFolderAsWeDo()
    {
        // default_model_oracle.json: transformers 5.17 (PyTorch 2.11, CPU f32) loading this folder with
        // FalconMambaForCausalLM / AutoTokenizer (check_default_model.py, run on the lent GPU machine).
        var o = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "tests", "FalconMamba.Tests", "Fixtures", "transformers", "default_model_oracle.json")))!;
        var tok = Tokenizer.Load(Dir);
        int[] hfIds = o["ids"]!.AsArray().Select(x => x!.GetValue<int>()).ToArray();
        Assert.Equal(hfIds, tok.EncodeToIds(o["text"]!.GetValue<string>(), addSpecialTokens: false));
        Assert.Equal(o["chat"]!.GetValue<string>(), FalconMamba.Tokenization.ChatTemplates.TokenizerChatExtensions.ApplyChatTemplate(tok,
            [new("system", "be brief"), new("user", "hi")], addGenerationPrompt: true));
        // Recorded with the shipped config (rescale_prenorm_residual: false), so transformers uses the weights as stored.
        using var model = MambaModel.Load(Dir);
        using var ctx = model.CreateContext(2, 16);
        var last = ctx.Prefill(hfIds, model.CreateState()).ToArray();
        var expected = o["logits_last"]!.AsArray().Select(x => x!.GetValue<double>()).ToArray();
        double d = last.Zip(expected, (a, b) => Math.Abs(a - b)).Max(), m = expected.Max(Math.Abs);
        TestContext.Current.TestOutputHelper?.WriteLine($"shipped model vs transformers: max|Δlogit|/max|logit| = {d / m:E3}");
        Assert.True(d / m <= 2e-5);
        using var g = new Generator(model, 1);
        var greedy = new List<int>();
        await foreach (var t in g.GenerateAsync(hfIds[..8], new SamplingOptions { MaxNewTokens = 12, EosTokenIds = [] })) greedy.Add(t.Id);
        Assert.Equal(o["greedy"]!.AsArray().Select(x => x!.GetValue<int>()), greedy);
    }
}
