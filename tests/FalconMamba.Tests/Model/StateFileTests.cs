using FalconMamba.Model;
using FalconMamba.Tests.Cli;

namespace FalconMamba.Tests.Model;

public class StateFileTests
{
    [Fact]
    public void SavedStateContinuesExactlyAndRejectsAnotherShape()
    {
        var cfg = TestModel.MakeConfig(d: 24, e: 48, v: 40);
        string dir = new TestModel(cfg, 6).WriteFolder(TestPaths.NewTempDir());
        using var model = MambaModel.Load(dir);
        using var ctx = model.CreateContext(2, 8);
        int[] tokens = Enumerable.Range(0, 30).Select(i => (i * 11) % 40).ToArray();
        var full = ctx.Prefill(tokens, model.CreateState()).ToArray();

        var st = model.CreateState();
        ctx.Prefill(tokens.AsSpan(0, 17), st);
        string file = Path.Combine(TestPaths.NewTempDir(), "prefix.state");
        StateFile.Save(st, file, tokens[..17]);
        var (loaded, savedTokens) = StateFile.Load(file, model.Config);
        Assert.Equal(tokens[..17], savedTokens);
        Assert.Equal(17, loaded.Position);
        Assert.Equal(full, ctx.Prefill(tokens.AsSpan(17), loaded).ToArray());

        var other = TestModel.MakeConfig(d: 24, e: 56, v: 40);
        var e = Assert.Throws<ModelFormatException>(() => StateFile.Load(file, other));
        Assert.Contains("intermediate_size", e.Message);
        File.WriteAllBytes(file, File.ReadAllBytes(file)[..100]);
        Assert.Throws<ModelFormatException>(() => StateFile.Load(file, model.Config));
        Directory.Delete(dir, true);
    }

    [Fact]
    public void CliPromptCacheGivesTheSameTextAsTheFullPrompt()
    {
        string dir = new TestModel(TestModel.MakeConfig(d: 24, e: 48, v: 40), 7).WriteFolder(TestPaths.NewTempDir());
        string file = Path.Combine(TestPaths.NewTempDir(), "p.state");
        var full = CliHarness.Run("generate", "--model", dir, "--prompt-ids", "1,2,3,4,5,6,7", "-n", "6", "--threads", "1");
        var save = CliHarness.Run("generate", "--model", dir, "--prompt-ids", "1,2,3,4,5", "-n", "1", "--save-state", file, "--threads", "1");
        Assert.Equal(0, save.ExitCode);
        var resumed = CliHarness.Run("generate", "--model", dir, "--load-state", file, "--prompt-ids", "5,6,7", "-n", "6", "--threads", "1");
        Assert.Equal(0, resumed.ExitCode);
        Assert.Equal(full.Stdout, resumed.Stdout);
        Directory.Delete(dir, true);
    }
}
