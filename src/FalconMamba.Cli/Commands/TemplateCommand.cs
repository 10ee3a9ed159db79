using System.CommandLine;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using FalconMamba.Tokenization.ChatTemplates;

namespace FalconMamba.Cli.Commands;

/// <summary>
/// <c>falcon-mamba template --tokenizer PATH --messages FILE.json [--tools FILE.json] [--add-generation-prompt]
/// [--bos-token S] [--eos-token S] [--template FILE.jinja]</c>: prints the rendered chat prompt to stdout exactly as
/// rendered (UTF-8, nothing added). A template error, including <c>raise_exception</c>, exits non-zero with its message on stderr.
/// </summary>
internal static class TemplateCommand
{
    public static Command Create()
    {
        var tokenizer = new Option<string>("--tokenizer") { Description = "Tokenizer folder (or its tokenizer_config.json) whose chat_template, bos_token and eos_token are used." };
        var messages = new Option<string>("--messages") { Description = "JSON file: an array of messages ({\"role\", \"content\", \"tool_calls\", ...}).", Required = true };
        var tools = new Option<string>("--tools") { Description = "JSON file: an array of tool definitions." };
        var addGen = new Option<bool>("--add-generation-prompt") { Description = "Append the assistant turn header." };
        var bos = new Option<string>("--bos-token") { Description = "Override the bos_token text." };
        var eos = new Option<string>("--eos-token") { Description = "Override the eos_token text." };
        var template = new Option<string>("--template") { Description = "Render this Jinja file instead of the tokenizer's chat_template." };
        var cmd = new Command("template", "Render a chat prompt with the tokenizer's Jinja chat template.") { tokenizer, messages, tools, addGen, bos, eos, template };
        cmd.SetAction(pr => CliRunner.Run(pr, () =>
        {
            string? tokPath = pr.GetValue(tokenizer);
            string? templatePath = pr.GetValue(template);
            if (tokPath == null && templatePath == null) throw new ArgumentException("--tokenizer is required (or give the template with --template)");
            var config = tokPath != null ? TokenizerChatConfig.Load(tokPath) : new TokenizerChatConfig();
            string? text = templatePath != null ? File.ReadAllText(templatePath) : config.ChatTemplate;
            if (text == null) throw new FalconMambaException($"{tokPath}: the tokenizer has no chat_template; pass --template FILE.jinja");

            string messagesPath = pr.GetValue(messages)!;
            var msgNode = ReadJson(messagesPath);
            var msgArray = msgNode as JsonArray ?? (msgNode as JsonObject)?["messages"] as JsonArray
                ?? throw new FalconMambaException($"{messagesPath}: expected a JSON array of messages (or an object with a \"messages\" array)");
            JsonArray? toolArray = null;
            if (pr.GetValue(tools) is { } toolsPath)
                toolArray = ReadJson(toolsPath) as JsonArray ?? throw new FalconMambaException($"{toolsPath}: expected a JSON array of tool definitions");

            var chat = ChatTemplate.Parse(text);
            string rendered = chat.RenderJson(msgArray.DeepClone().AsArray(), pr.GetValue(addGen), toolArray,
                bosToken: pr.GetValue(bos) ?? config.BosToken, eosToken: pr.GetValue(eos) ?? config.EosToken);
            using var stdout = Console.OpenStandardOutput();
            stdout.Write(new UTF8Encoding(false).GetBytes(rendered));
            stdout.Flush();
            return 0;
        }));
        return cmd;
    }

    static JsonNode? ReadJson(string path)
    {
        try { return JsonNode.Parse(File.ReadAllBytes(path)); }
        catch (JsonException e) { throw new FalconMambaException($"{path}: invalid JSON: {e.Message}"); }
    }
}
