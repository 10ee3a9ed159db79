using System.Diagnostics;

namespace FalconMamba.Tests.Cli;

/// <summary>Runs the built `falcon-mamba` (falcon-mamba.dll beside the tests) as a child process.</summary>
public static class CliHarness
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr);

    public static Result Run(params string[] args) => RunWithInput(null, args);

    public static Result RunWithInput(string? stdin, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false,
            StandardOutputEncoding = System.Text.Encoding.UTF8, StandardErrorEncoding = System.Text.Encoding.UTF8,
        };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "falcon-mamba.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        if (stdin != null) p.StandardInput.Write(stdin);
        p.StandardInput.Close();
        var outTask = p.StandardOutput.ReadToEndAsync();
        var errTask = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(120_000)) { p.Kill(true); throw new TimeoutException("falcon-mamba " + string.Join(' ', args)); }
        return new Result(p.ExitCode, outTask.Result, errTask.Result);
    }

    /// <summary>A failed run: non-zero exit, one clear error line, no stack trace.</summary>
    public static void AssertCleanError(Result r, params string[] mustContain)
    {
        TestContext.Current.TestOutputHelper?.WriteLine($"exit {r.ExitCode}: {r.Stderr.Trim()}");
        Assert.NotEqual(0, r.ExitCode);
        Assert.DoesNotContain("   at ", r.Stderr);
        foreach (var s in mustContain) Assert.Contains(s, r.Stderr);
    }
}
