namespace FalconMamba.Tests;

/// <summary>Skips a test with a clear reason when the ../shared reference data is absent.</summary>
public static class SkipWhen
{
    public static string SharedMissing()
    {
        string? p = TestPaths.SharedReference;
        Assert.SkipWhen(p is null, "SKIPPED: ../shared/reference is absent; this test needs the shared reference data.");
        return p!;
    }
}
