using System.Runtime.InteropServices;
using FalconMamba.Model;

namespace FalconMamba.Tests.Cli;

/// <summary>The generate / info / logits contracts and their error handling.</summary>
public class CoreCommandsTests : IClassFixture<CoreCommandsTests.Fixture>
{
    public sealed class Fixture : IDisposable
    {
        public readonly string Dir = new TestModel(TestModel.MakeConfig(d: 32, e: 64, v: 50), 4).WriteFolder(TestPaths.NewTempDir(), "BF16");
        public void Dispose() => Directory.Delete(Dir, true);
    }

    readonly Fixture _f;
    public CoreCommandsTests(Fixture f) => _f = f;

    [Theory]
    [InlineData("prefill")]
    [InlineData("decode")]
    public void LogitsWritesRawFloat32RowsThatMatchTheLibrary(string mode)
    {
        string outFile = Path.Combine(TestPaths.NewTempDir(), "logits.f32");
        int[] tokens = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5];
        var r = CliHarness.Run("logits", "--model", _f.Dir, "--tokens", string.Join(',', tokens), "--out", outFile, "--mode", mode, "--chunk", "4");
        Assert.Equal(0, r.ExitCode);
        var bytes = File.ReadAllBytes(outFile);
        Assert.Equal(tokens.Length * 50 * 4, bytes.Length);
        var got = MemoryMarshal.Cast<byte, float>(bytes).ToArray();
        using var m = MambaModel.Load(_f.Dir);
        using var ctx = m.CreateContext(1, 64);
        double maxDiff = 0;
        ctx.Score(tokens, m.CreateState(), (pos, logits) =>
        {
            for (int v = 0; v < logits.Length; v++) maxDiff = Math.Max(maxDiff, Math.Abs(logits[v] - got[(int)pos * 50 + v]));
        });
        TestContext.Current.TestOutputHelper?.WriteLine($"{mode}: max |Δ| vs library = {maxDiff:E3}");
        Assert.True(maxDiff <= 1e-5);
    }

    [Fact]
    public void GenerateWithIdsPrintsIdsAndStats()
    {
        var r = CliHarness.Run("generate", "--model", _f.Dir, "--prompt-ids", "1,2,3", "-n", "5", "--seed", "1", "--temperature", "0.7", "--threads", "1");
        Assert.Equal(0, r.ExitCode);
        var ids = r.Stdout.Trim().Split(',').Select(int.Parse).ToArray();
        Assert.InRange(ids.Length, 1, 5);
        Assert.All(ids, id => Assert.InRange(id, 0, 49));
        Assert.Contains("prefill", r.Stderr);
        Assert.Contains("decode", r.Stderr);
        Assert.Contains("peak RSS", r.Stderr);
        var again = CliHarness.Run("generate", "--model", _f.Dir, "--prompt-ids", "1,2,3", "-n", "5", "--seed", "1", "--temperature", "0.7", "--threads", "1");
        Assert.Equal(r.Stdout, again.Stdout);
    }

    [Fact]
    public void InfoReportsShapeParametersAndStateSize()
    {
        var r = CliHarness.Run("info", "--model", _f.Dir);
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("falcon_mamba", r.Stdout);
        Assert.Contains("BF16", r.Stdout);
        Assert.Contains("state per seq", r.Stdout);
    }

    [Fact]
    public void BadArgumentsGiveOneClearLine()
    {
        CliHarness.AssertCleanError(CliHarness.Run("generate", "--model", "/no/such/model", "--prompt-ids", "1"), "/no/such/model");
        CliHarness.AssertCleanError(CliHarness.Run("generate", "--model", _f.Dir, "--prompt-ids", "1,x"), "--prompt-ids", "'x'");
        CliHarness.AssertCleanError(CliHarness.Run("generate", "--model", _f.Dir, "--prompt-ids", "1,999"), "999", "vocab");
        CliHarness.AssertCleanError(CliHarness.Run("generate", "--model", _f.Dir, "--prompt-ids", "1", "--top-p", "1.5"), "--top-p");
        CliHarness.AssertCleanError(CliHarness.Run("generate", "--model", _f.Dir, "--prompt-ids", "1", "--chunk", "0"), "--chunk");
        CliHarness.AssertCleanError(CliHarness.Run("generate", "--model", _f.Dir, "--prompt-ids", "1", "--threads", "-3"), "--threads");
        CliHarness.AssertCleanError(CliHarness.Run("logits", "--model", _f.Dir, "--out", "/tmp/x.f32"), "--tokens");
        CliHarness.AssertCleanError(CliHarness.Run("logits", "--tokens", "1"), "--model");
        CliHarness.AssertCleanError(CliHarness.Run("logits", "--model", _f.Dir, "--tokens", "1", "--out", "/tmp/x.f32", "--mode", "sideways"), "sideways");
    }
}
