using System.Runtime.InteropServices;
using FalconMamba.Formats.Safetensors;
using FalconMamba.Generation;
using FalconMamba.Model;
using FalconMamba.Tests.Reference;

namespace FalconMamba.Tests.Model;

/// <summary>
/// The truest oracle: Hugging Face transformers 5.17 / PyTorch 2.11 themselves. Fixtures/transformers/ holds tiny random
/// FalconMambaForCausalLM / MambaForCausalLM folders written by transformers' save_pretrained and, for each, the logits
/// (f32 and f64 CPU runs), loss, parameter gradients and greedy generate() output that transformers computed
/// (make_oracle.py, run on the lent GPU machine; see its docstring to regenerate).
/// </summary>
public class TransformersOracleTests
{
    public static TheoryData<string> Cases => new("falcon_odd", "falcon_basic", "mamba_tied", "falcon_grad", "mamba_grad");

    internal static string CaseDir(string name) => Path.Combine(TestPaths.RepoRoot, "tests", "FalconMamba.Tests", "Fixtures", "transformers", name);

    internal static (int[] Ids, int[] Targets, SafetensorsFile Oracle) Open(string name)
    {
        var f = SafetensorsFile.Open(Path.Combine(CaseDir(name), "oracle.safetensors"));
        int[] Ints(string t) => MemoryMarshal.Cast<byte, int>(f.Bytes(f.Tensors[t])).ToArray();
        return (Ints("input_ids"), Ints("targets"), f);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void LogitsMatchTransformers(string name)
    {
        var (ids, _, oracle) = Open(name);
        using var _o = oracle;
        var expected = oracle.ReadFloat32(oracle.Tensors["logits_f64"]);
        using var model = MambaModel.Load(Path.Combine(CaseDir(name), "model"));
        int V = model.Config.VocabSize;
        foreach (var (mode, chunk) in new[] { ("prefill", 7), ("decode", 1) })
        {
            using var ctx = model.CreateContext(2, chunk);
            var state = model.CreateState();
            double maxDiff = 0, maxLogit = 0;
            void Compare(long pos, ReadOnlySpan<float> logits)
            {
                for (int v = 0; v < V; v++)
                {
                    maxDiff = Math.Max(maxDiff, Math.Abs(logits[v] - expected[pos * V + v]));
                    maxLogit = Math.Max(maxLogit, Math.Abs(expected[pos * V + v]));
                }
            }
            if (mode == "prefill") ctx.Score(ids, state, Compare);
            else for (int t = 0; t < ids.Length; t++) Compare(t, ctx.Decode(ids[t], state));
            TestContext.Current.TestOutputHelper?.WriteLine($"{name} {mode}: max|Δlogit| = {maxDiff:E3}, max|logit| = {maxLogit:F3}, ratio {maxDiff / maxLogit:E3}");
            Assert.True(maxDiff / maxLogit <= 2e-5, $"{name} {mode}: {maxDiff / maxLogit:E3}");
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task GreedyGenerationMatchesTransformersGenerate(string name)
    {
        var (ids, _, oracle) = Open(name);
        int[] expected = MemoryMarshal.Cast<byte, int>(oracle.Bytes(oracle.Tensors["generated"])).ToArray();
        oracle.Dispose();
        using var model = MambaModel.Load(Path.Combine(CaseDir(name), "model"));
        using var gen = new Generator(model, 1, 4);
        var got = new List<int>();
        await foreach (var t in gen.GenerateAsync(ids[..10], new SamplingOptions { MaxNewTokens = 8, EosTokenIds = [] })) got.Add(t.Id);
        Assert.Equal(expected, got);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Float64ReferenceAgreesWithTransformers(string name)
    {
        // Validates the test project's own float64 reference (used for finite-difference gradients) against transformers.
        var (ids, targets, oracle) = Open(name);
        using var _o = oracle;
        var cfg = MambaConfig.Load(Path.Combine(CaseDir(name), "model"));
        using var st = SafetensorsFile.Open(Path.Combine(CaseDir(name), "model", "model.safetensors"));
        var p = st.Tensors.Values.ToDictionary(t => t.Name, t => st.ReadFloat32(t).Select(v => (double)v).ToArray());
        double loss = ReferenceMamba.Loss(cfg, p, ids, targets);
        double expected = oracle.ReadFloat32(oracle.Tensors["loss"])[0];
        TestContext.Current.TestOutputHelper?.WriteLine($"{name}: loss reference {loss:F9} transformers {expected:F9}");
        Assert.Equal(expected, loss, 5);
    }
}
