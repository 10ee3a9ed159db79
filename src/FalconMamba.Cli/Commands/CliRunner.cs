using System.CommandLine;
using Spectre.Console;

namespace FalconMamba.Cli.Commands;

/// <summary>
/// Runs a command body so that any user error becomes one clear line on stderr and a non-zero exit code;
/// the stack trace appears only with <c>--verbose</c>.
/// </summary>
internal static class CliRunner
{
    public static readonly Option<bool> VerboseOption = new("--verbose") { Description = "Show stack traces on errors.", Recursive = true };

    /// <summary>Quantize the linear weights at load (q8_0, q4_0, q4_k, q6_k, f16, bf16); SSM parameters stay f32.</summary>
    public static readonly Option<string?> QuantizeOption = new("--quantize") { Description = "Quantize linear weights at load: q8_0, q4_0, q4_k, q6_k, f16 or bf16 (A_log, D, conv, biases, norms stay f32).", Recursive = true };

    /// <summary>Copy the weights into RAM on 2 MiB pages instead of using the file mapping in place (llama.cpp's --no-mmap).</summary>
    public static readonly Option<bool> NoMmapOption = new("--no-mmap") { Description = "Copy the weights into RAM on 2 MiB pages instead of using the file mapping in place (faster decode when the page cache is fragmented; needs RAM for all weights).", Recursive = true };

    /// <summary>The load options --quantize and --no-mmap ask for.</summary>
    public static FalconMamba.Model.ModelLoadOptions LoadOptions(ParseResult parse) => new()
    {
        Quantize = parse.GetValue(QuantizeOption) is string q ? FalconMamba.Model.WeightQuantizer.Parse(q) : null,
        UseMmap = !parse.GetValue(NoMmapOption),
    };

    /// <summary>
    /// Loads the model at <paramref name="path"/>, honouring --quantize and --no-mmap. With --no-mmap the copy into RAM
    /// (seconds for a 7B) shows a progress bar on stderr; the mapped load itself is lazy and quick.
    /// </summary>
    public static FalconMamba.Model.MambaModel LoadModel(ParseResult parse, string path)
    {
        var options = LoadOptions(parse);
        if (options.UseMmap) return FalconMamba.Model.MambaModel.Load(path, options);
        FalconMamba.Model.MambaModel? model = null;
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        console.Progress().AutoClear(true).Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask("--no-mmap: copying the weights into RAM (2 MiB pages)", maxValue: 1.0);
                model = FalconMamba.Model.MambaModel.Load(path, options, new DirectProgress(p => task.Value = Math.Min(1.0, p)));
                task.Value = 1.0;
            });
        return model!;
    }

    /// <summary>Reports on the reporting thread (Progress&lt;T&gt; would post to the thread pool).</summary>
    internal sealed class DirectProgress(Action<double> report) : IProgress<double>
    {
        public void Report(double value) => report(value);
    }

    public static int Run(ParseResult parse, Func<int> body)
    {
        try { return body(); }
        catch (Exception e) { return Fail(parse, e); }
    }

    public static async Task<int> RunAsync(ParseResult parse, Func<Task<int>> body)
    {
        try { return await body(); }
        catch (Exception e) { return Fail(parse, e); }
    }

    static string FirstLine(string s) => s.Split('\n')[0].TrimEnd();

    static int Fail(ParseResult parse, Exception e)
    {
        if (e is OperationCanceledException) { Console.Error.WriteLine("cancelled"); return 130; }
        bool verbose = parse.GetValue(VerboseOption);
        string message = e switch
        {
            FalconMambaException => e.Message,
            FileNotFoundException f => $"file not found: {f.FileName ?? f.Message}",
            DirectoryNotFoundException => e.Message,
            UnauthorizedAccessException => e.Message,
            ArgumentException a => FirstLine(a.Message).Replace($" (Parameter '{a.ParamName}')", ""),
            IOException => e.Message,
            _ => $"{e.GetType().Name}: {e.Message}",
        };
        Console.Error.WriteLine($"error: {message}");
        if (verbose) Console.Error.WriteLine(e);
        return 1;
    }
}
