using System.CommandLine;
using System.Diagnostics;
using FalconMamba.Generation;
using FalconMamba.Model;

namespace FalconMamba.Cli.Commands;

/// <summary>
/// <c>falcon-mamba generate --model PATH [--prompt T | --prompt-file F | --prompt-ids 1,2 | stdin] [sampling…]</c>:
/// prints text as it is generated; at the end, on stderr, prompt tokens, prefill and decode tokens/s and peak memory.
/// </summary>
internal static class GenerateCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var prompt = new Option<string?>("--prompt", "-p") { Description = "Prompt text." };
        var promptFile = new Option<string?>("--prompt-file") { Description = "Read the prompt from a UTF-8 file." };
        var promptIds = new Option<string?>("--prompt-ids") { Description = "Prompt as comma-separated token ids (prints ids when the model has no tokenizer)." };
        var maxNew = new Option<int?>("--max-new-tokens", "-n") { Description = "Maximum tokens to generate (default: generation_config.json, else 128)." };
        var temperature = new Option<float?>("--temperature") { Description = "Sampling temperature; 0 = greedy. Setting it > 0 turns sampling on." };
        var topK = new Option<int?>("--top-k") { Description = "Keep the k most likely tokens (0 = off)." };
        var topP = new Option<float?>("--top-p") { Description = "Nucleus sampling threshold (1 = off)." };
        var minP = new Option<float?>("--min-p") { Description = "Drop tokens below min_p × the top probability (0 = off)." };
        var repeat = new Option<float?>("--repeat-penalty") { Description = "HF repetition penalty (1 = off)." };
        var seed = new Option<int?>("--seed") { Description = "RNG seed: the same seed gives the same text." };
        var greedy = new Option<bool>("--greedy") { Description = "Greedy decoding (argmax)." };
        var stop = new Option<string[]>("--stop") { Description = "Stop when this string is generated (repeatable).", AllowMultipleArgumentsPerToken = false };
        var saveState = new Option<string?>("--save-state") { Description = "After reading the prompt, save the state (a prompt cache) to this file." };
        var loadState = new Option<string?>("--load-state") { Description = "Start from a saved state; the prompt continues it." };
        var threads = CommonOptions.Threads();
        var chunk = CommonOptions.Chunk();
        var cmd = new Command("generate", "Generate text from a prompt.")
        { model, prompt, promptFile, promptIds, maxNew, temperature, topK, topP, minP, repeat, seed, greedy, stop, saveState, loadState, threads, chunk };
        cmd.SetAction((pr, ct) => CliRunner.RunAsync(pr, async () =>
        {
            string modelPath = pr.GetValue(model)!;
            var loadTimer = Stopwatch.StartNew();
            using var m = CliRunner.LoadModel(pr, modelPath);
            var loadTime = loadTimer.Elapsed;

            int[] ids;
            bool textMode;
            if (pr.GetValue(promptIds) is string pid) { ids = CommonOptions.ParseIds(pid, "--prompt-ids"); textMode = false; }
            else
            {
                string text = pr.GetValue(prompt)
                    ?? (pr.GetValue(promptFile) is string f ? ReadUtf8(f)
                    : Console.IsInputRedirected ? Console.In.ReadToEnd()
                    : throw new ArgumentException("give --prompt, --prompt-file, --prompt-ids, or a prompt on stdin"));
                ids = TokenizerLoader.Encode(modelPath, text);
                textMode = true;
            }

            var defaults = (Directory.Exists(modelPath) ? GenerationConfig.Load(modelPath) : null)?.ToSamplingOptions() ?? new SamplingOptions();
            float? temp = pr.GetValue(temperature);
            var options = defaults with
            {
                DoSample = pr.GetValue(greedy) ? false : temp is > 0 || defaults.DoSample,
                Temperature = temp ?? defaults.Temperature,
                TopK = pr.GetValue(topK) ?? defaults.TopK,
                TopP = pr.GetValue(topP) ?? defaults.TopP,
                MinP = pr.GetValue(minP) ?? defaults.MinP,
                RepetitionPenalty = pr.GetValue(repeat) ?? defaults.RepetitionPenalty,
                Seed = pr.GetValue(seed),
                MaxNewTokens = pr.GetValue(maxNew) ?? defaults.MaxNewTokens,
                StopStrings = pr.GetValue(stop) ?? [],
            };
            options.Validate();

            using var gen = new Generator(m, pr.GetValue(threads), pr.GetValue(chunk));
            if (pr.GetValue(loadState) is string load)
            {
                var (saved, savedTokens) = StateFile.Load(load, m.Config);
                gen.Restore(saved);
                Console.Error.WriteLine($"[loaded state: {saved.Position} tokens from {load}]");
            }
            if (pr.GetValue(saveState) is string save)
            {
                // Everything but the last prompt token goes into the saved state; the last one starts generation.
                gen.Prefill(ids[..^1], ct);
                StateFile.Save(gen.State, save, ids[..^1]);
                Console.Error.WriteLine($"[saved state after {gen.State.Position} tokens to {save} ({CommonOptions.FormatBytes(new FileInfo(save).Length)})]");
                ids = ids[^1..];
            }
            var streamer = textMode ? TokenizerLoader.Streamer(modelPath) : null;
            bool first = true;
            await foreach (var tok in gen.GenerateAsync(ids, options, streamer, ct))
            {
                if (tok.IsEos) break;
                if (streamer != null) Console.Write(tok.Text);
                else { Console.Write(first ? $"{tok.Id}" : $",{tok.Id}"); first = false; }
                Console.Out.Flush();
            }
            Console.WriteLine();
            var s = gen.LastStats!;
            Console.Error.WriteLine($"[load {loadTime.TotalSeconds:F2} s | prompt {s.PromptTokens} tokens, prefill {s.PrefillTokensPerSecond:F1} tok/s | " +
                $"generated {s.GeneratedTokens} tokens, decode {s.DecodeTokensPerSecond:F2} tok/s | stop: {s.StopReason} | threads {ThreadsUsed(pr, threads)} | peak RSS {CommonOptions.PeakRssMiB():F0} MiB]");
            return 0;
        }));
        return cmd;
    }

    static int ThreadsUsed(ParseResult pr, Option<int> threads) => pr.GetValue(threads) is int t && t > 0 ? t : Environment.ProcessorCount;

    static string ReadUtf8(string path)
    {
        if (!File.Exists(path)) throw new FalconMambaException($"--prompt-file: '{path}' does not exist");
        try { return File.ReadAllText(path, new System.Text.UTF8Encoding(false, throwOnInvalidBytes: true)); }
        catch (System.Text.DecoderFallbackException) { throw new FalconMambaException($"--prompt-file: '{path}' is not valid UTF-8"); }
    }
}
