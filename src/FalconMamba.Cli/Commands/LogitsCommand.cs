using System.CommandLine;
using System.Runtime.InteropServices;
using FalconMamba.Model;

namespace FalconMamba.Cli.Commands;

/// <summary>
/// <c>falcon-mamba logits --model PATH (--tokens 1,2,3 | --prompt TEXT) --out FILE [--mode prefill|decode] [--chunk N]</c>:
/// writes raw little-endian float32, n_tokens × vocab_size, row t = logits after token t. Outside checks rely on this
/// exact contract.
/// </summary>
internal static class LogitsCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var tokens = new Option<string?>("--tokens") { Description = "Comma-separated token ids." };
        var prompt = new Option<string?>("--prompt") { Description = "Text, tokenized with the model's tokenizer." };
        var output = new Option<string>("--out", "-o") { Description = "Output file (raw f32, n_tokens × vocab).", Required = true };
        var mode = new Option<string>("--mode") { Description = "prefill (chunked) or decode (one token at a time through the recurrent step).", DefaultValueFactory = _ => "prefill" };
        mode.AcceptOnlyFromAmong("prefill", "decode");
        var chunk = CommonOptions.Chunk();
        var threads = CommonOptions.Threads();
        var cmd = new Command("logits", "Write the logits after every token of a sequence as raw float32.") { model, tokens, prompt, output, mode, chunk, threads };
        cmd.SetAction(pr => CliRunner.Run(pr, () =>
        {
            string modelPath = pr.GetValue(model)!;
            using var m = CliRunner.LoadModel(pr, modelPath);
            int[] ids = pr.GetValue(tokens) is string t ? CommonOptions.ParseIds(t, "--tokens")
                : pr.GetValue(prompt) is string p ? TokenizerLoader.Encode(modelPath, p)
                : throw new ArgumentException("give --tokens or --prompt");
            using var ctx = m.CreateContext(pr.GetValue(threads), pr.GetValue(chunk));
            var state = m.CreateState();
            string outPath = pr.GetValue(output)!;
            string tmp = outPath + ".tmp";
            using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write))
            {
                if (pr.GetValue(mode) == "decode")
                    foreach (int id in ids) fs.Write(MemoryMarshal.AsBytes(ctx.Decode(id, state)));
                else
                    ctx.Score(ids, state, (_, logits) => fs.Write(MemoryMarshal.AsBytes(logits)));
            }
            File.Move(tmp, outPath, overwrite: true);
            Console.Error.WriteLine($"wrote {ids.Length} × {m.Config.VocabSize} float32 logits to {outPath}");
            return 0;
        }));
        return cmd;
    }
}
