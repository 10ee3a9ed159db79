using System.CommandLine;
using FalconMamba.Generation;
using FalconMamba.Model;
using FalconMamba.Tokenization.ChatTemplates;

namespace FalconMamba.Cli.Commands;

/// <summary>
/// <c>falcon-mamba chat --model PATH</c>: an interactive conversation rendered with the model's own chat template.
/// The recurrent state is kept between turns, so each turn reads only its new tokens, never the whole history.
/// </summary>
internal static class ChatCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var system = new Option<string?>("--system") { Description = "System prompt." };
        var maxNew = new Option<int>("--max-new-tokens", "-n") { Description = "Maximum tokens per reply.", DefaultValueFactory = _ => 256 };
        var temperature = new Option<float>("--temperature") { Description = "Sampling temperature (0 = greedy).", DefaultValueFactory = _ => 0.7f };
        var topP = new Option<float>("--top-p") { Description = "Nucleus sampling threshold.", DefaultValueFactory = _ => 0.9f };
        var seed = new Option<int?>("--seed") { Description = "RNG seed." };
        var template = new Option<string?>("--template") { Description = "Render this Jinja file instead of the tokenizer's chat_template." };
        var threads = CommonOptions.Threads();
        var cmd = new Command("chat", "Chat with a model; the state is kept between turns (no re-reading of the history).") { model, system, maxNew, temperature, topP, seed, template, threads };
        cmd.SetAction((pr, ct) => CliRunner.RunAsync(pr, async () =>
        {
            string path = pr.GetValue(model)!;
            using var m = CliRunner.LoadModel(pr, path);
            var tok = TokenizerLoader.Load(path);
            ChatPromptRenderer render;
            if (pr.GetValue(template) is string f)
            {
                if (!File.Exists(f)) throw new FalconMambaException($"--template: '{f}' does not exist");
                var parsed = ChatTemplate.Parse(File.ReadAllText(f));
                render = (msgs, addGen) => parsed.Render(msgs.Select(t => new ChatTemplateMessage(t.Role, t.Content)).ToList(), addGen, bosToken: tok.BosToken, eosToken: tok.EosToken);
            }
            else if (tok.ChatTemplate == null && tok.ChatTemplates.Count == 0)
                throw new FalconMambaException($"{path}: tokenizer_config.json has no chat_template; give --template FILE.jinja");
            else render = tok.ChatRenderer();
            using var session = new ChatSession(m, tok, render, pr.GetValue(threads));
            if (pr.GetValue(system) is string s) session.Add(new ChatTurn("system", s));
            var eos = new List<int>(m.Config.EosTokenIds);
            if (tok.EosTokenId is int e && !eos.Contains(e)) eos.Add(e);
            foreach (var name in new[] { "<|im_end|>", "<|end_of_text|>", "<|endoftext|>" })
                if (tok.TokenToId(name) is int id && !eos.Contains(id)) eos.Add(id);
            var options = new SamplingOptions
            {
                DoSample = pr.GetValue(temperature) > 0, Temperature = pr.GetValue(temperature), TopP = pr.GetValue(topP),
                Seed = pr.GetValue(seed), MaxNewTokens = pr.GetValue(maxNew), EosTokenIds = eos,
            };
            Console.Error.WriteLine("Type a message; an empty line or Ctrl-D ends the chat, /reset starts over.");
            while (!ct.IsCancellationRequested)
            {
                Console.Write("> ");
                string? line = Console.ReadLine();
                if (string.IsNullOrWhiteSpace(line)) break;
                if (line.Trim() == "/reset") { session.Reset(); if (pr.GetValue(system) is string s2) session.Add(new ChatTurn("system", s2)); continue; }
                await foreach (var t in session.SendAsync(line, options, ct))
                    if (!t.IsEos) { Console.Write(t.Text); Console.Out.Flush(); }
                Console.WriteLine();
                var st = session.Generator.LastStats!;
                Console.Error.WriteLine($"[{session.LastNewTokens} new prompt tokens ({session.LastCachedTokens} kept in the state), {st.GeneratedTokens} generated at {st.DecodeTokensPerSecond:F1} tok/s]");
            }
            return 0;
        }));
        return cmd;
    }
}
