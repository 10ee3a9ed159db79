using System.Diagnostics;

namespace FalconMamba.Tests.Cli;

/// <summary>Runs the built `falcon-mamba` (falcon-mamba.dll beside the tests) as a child process.</summary>
public static class CliHarness
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr);

    public static Result Run(params string[] args) => RunWithInput(null, args);

    public static Result RunWithInput(string? stdin, params string[] args) => RunDll("falcon-mamba.dll", stdin, 120_000, args);

    /// <summary>Runs another program built beside the tests (e.g. the llama.cpp comparison harness) the same way.</summary>
    public static Result RunDll(string dll, string? stdin, int timeoutMs, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false,
            StandardOutputEncoding = System.Text.Encoding.UTF8, StandardErrorEncoding = System.Text.Encoding.UTF8,
        };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, dll));
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        if (stdin != null) p.StandardInput.Write(stdin);
        p.StandardInput.Close();
        var outTask = p.StandardOutput.ReadToEndAsync();
        var errTask = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeoutMs)) { p.Kill(true); throw new TimeoutException(dll + " " + string.Join(' ', args)); }
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
