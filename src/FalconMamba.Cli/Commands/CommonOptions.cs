using System.CommandLine;
using System.Diagnostics;
using System.Globalization;

namespace FalconMamba.Cli.Commands;

/// <summary>Options and small helpers shared by several commands.</summary>
internal static class CommonOptions
{
    public static Option<string> Model() => new("--model", "-m") { Description = "Model folder (config.json + *.safetensors) or .gguf file.", Required = true };
    public static Option<int> Threads() => new("--threads", "-t") { Description = "Worker threads (0 = all cores).", DefaultValueFactory = _ => 0 };
    public static Option<int> Chunk() => new("--chunk") { Description = "Prefill chunk size in tokens (memory is O(chunk)).", DefaultValueFactory = _ => 64 };

    /// <summary>Parses "1,2,3" into ids, naming the argument on error.</summary>
    public static int[] ParseIds(string text, string option)
    {
        var parts = text.Split([',', ' '], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var ids = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i], NumberStyles.Integer, CultureInfo.InvariantCulture, out ids[i]) || ids[i] < 0)
                throw new ArgumentException($"{option}: '{parts[i]}' is not a non-negative integer token id");
        if (ids.Length == 0) throw new ArgumentException($"{option}: no token ids given");
        return ids;
    }

    /// <summary>Peak resident memory of this process in MiB (Linux VmHWM; else the working-set peak).</summary>
    public static double PeakRssMiB()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                    return double.Parse(line[6..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) / 1024.0;
        }
        catch (IOException) { }
        return Process.GetCurrentProcess().PeakWorkingSet64 / (1024.0 * 1024.0);
    }

    public static string FormatBytes(long b) => b >= 1L << 30 ? $"{b / (double)(1L << 30):F2} GiB" : b >= 1 << 20 ? $"{b / (double)(1 << 20):F2} MiB" : $"{b / 1024.0:F1} KiB";
}
