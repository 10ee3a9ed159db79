using System.CommandLine;
using System.Diagnostics;
using FalconMamba.Formats.Gguf;
using FalconMamba.Kernels;
using Spectre.Console;

namespace FalconMamba.Cli.Commands;

/// <summary>
/// <c>falcon-mamba convert --model IN --out OUT [--type f32|f16|bf16|q8_0|q4_0|q4_k|q6_k]</c>: HF folder → GGUF
/// (when OUT ends in .gguf) or GGUF → HF folder (when IN is a .gguf file).
/// </summary>
internal static class ConvertCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Input: a Hugging Face model folder or a .gguf file", Required = true };
        var output = new Option<string>("--out") { Description = "Output: a .gguf file (from a folder) or a folder (from a .gguf)", Required = true };
        var type = new Option<string>("--type") { Description = "GGUF matrix type: f32, f16, bf16, q8_0, q4_0, q4_k, q6_k (default: bf16 for bf16 checkpoints, else f16)" };
        var cmd = new Command("convert", "Convert between a Hugging Face model folder and a llama.cpp GGUF file.") { model, output, type };
        cmd.SetAction(pr => CliRunner.Run(pr, () =>
        {
            string input = pr.GetValue(model)!, dest = pr.GetValue(output)!;
            bool toGguf = Directory.Exists(input);
            if (!toGguf && !(File.Exists(input) && input.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase)))
                throw new FalconMambaException($"--model: '{input}' is neither a model folder nor a .gguf file");
            if (toGguf && !dest.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase))
                throw new FalconMambaException($"--out: converting a folder writes a GGUF file; '{dest}' must end in .gguf");
            if (!toGguf && pr.GetValue(type) != null)
                throw new FalconMambaException("--type applies to folder → GGUF conversion only");
            TensorType t = toGguf ? ParseType(pr.GetValue(type), input) : TensorType.F32;

            var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
            var sw = Stopwatch.StartNew();
            console.Progress().AutoClear(false).Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
                .Start(ctx =>
                {
                    var task = ctx.AddTask(toGguf ? $"→ GGUF {t}" : "→ safetensors", maxValue: 1.0);
                    var progress = new CliRunner.DirectProgress(p => task.Value = Math.Min(1.0, p));
                    if (toGguf) GgufConverter.HuggingFaceToGguf(input, dest, t, progress);
                    else GgufConverter.GgufToHuggingFace(input, dest, progress);
                    task.Value = 1.0;
                });
            long bytes = toGguf ? new FileInfo(dest).Length : Directory.GetFiles(dest).Sum(f => new FileInfo(f).Length);
            Console.Error.WriteLine($"wrote {dest} ({bytes / (1024.0 * 1024.0):F1} MiB) in {sw.Elapsed.TotalSeconds:F1} s ({bytes / (1024.0 * 1024.0) / Math.Max(1e-3, sw.Elapsed.TotalSeconds):F0} MiB/s)");
            return 0;
        }));
        return cmd;
    }

    static TensorType ParseType(string? s, string folder) => s?.ToLowerInvariant() switch
    {
        null => Model.MambaConfig.Load(folder).TorchDtype == "bfloat16" ? TensorType.BF16 : TensorType.F16,
        "f32" => TensorType.F32,
        "f16" => TensorType.F16,
        "bf16" => TensorType.BF16,
        "q8_0" => TensorType.Q8_0,
        "q4_0" => TensorType.Q4_0,
        "q4_k" => TensorType.Q4_K,
        "q6_k" => TensorType.Q6_K,
        _ => throw new FalconMambaException($"--type '{s}' is not supported (f32, f16, bf16, q8_0, q4_0, q4_k, q6_k)"),
    };
}
