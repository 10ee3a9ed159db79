namespace FalconMamba.Tests;

/// <summary>Locates the repository root and the <c>../shared</c> reference folder beside it.</summary>
public static class TestPaths
{
    public static string RepoRoot { get; } = FindRepoRoot();

    /// <summary><c>../shared/reference</c>, or null when the folder is absent (tests then say they skipped).</summary>
    public static string? SharedReference
    {
        get
        {
            string p = Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared", "reference"));
            return Directory.Exists(p) ? p : null;
        }
    }

    static readonly System.Collections.Concurrent.ConcurrentBag<string> Created = [];

    static TestPaths() => AppDomain.CurrentDomain.ProcessExit += (_, _) =>
    {
        foreach (var d in Created)
            try { if (Directory.Exists(d)) Directory.Delete(d, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    };

    /// <summary>A fresh temporary folder for one test (removed when the test process exits).</summary>
    public static string NewTempDir(string prefix = "fm")
    {
        string d = Path.Combine(Path.GetTempPath(), $"{prefix}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(d);
        Created.Add(d);
        return d;
    }

    static string FindRepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir != null && !File.Exists(Path.Combine(dir.FullName, "FalconMamba.slnx")))
            dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("cannot find FalconMamba.slnx above " + AppContext.BaseDirectory);
    }
}
