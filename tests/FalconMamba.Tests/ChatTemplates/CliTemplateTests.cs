using System.Diagnostics;
using System.Text;

namespace FalconMamba.Tests.ChatTemplates;

/// <summary>
/// The <c>falcon-mamba template</c> contract: stdout is exactly the rendered prompt (UTF-8, no BOM, nothing added);
/// errors, including raise_exception, exit non-zero with the message on stderr.
/// </summary>
public class CliTemplateTests
{
    const string ChatMlWithBos =
        "{{ bos_token }}{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

    static (int Code, byte[] Stdout, string Stderr) Run(params string[] args)
    {
        string exe = Path.Combine(AppContext.BaseDirectory, OperatingSystem.IsWindows() ? "falcon-mamba.exe" : "falcon-mamba");
        var psi = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var ms = new MemoryStream();
        var copy = p.StandardOutput.BaseStream.CopyToAsync(ms);
        string err = p.StandardError.ReadToEnd();
        copy.Wait();
        p.WaitForExit();
        return (p.ExitCode, ms.ToArray(), err);
    }

    static string Folder(out string messages)
    {
        string dir = TestPaths.NewTempDir("tplcli");
        var cfg = new System.Text.Json.Nodes.JsonObject
        {
            ["bos_token"] = new System.Text.Json.Nodes.JsonObject { ["content"] = "<|begin_of_text|>" },
            ["eos_token"] = "<|end_of_text|>",
            ["chat_template"] = ChatMlWithBos,
        };
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), cfg.ToJsonString());
        messages = Path.Combine(dir, "messages.json");
        File.WriteAllText(messages, """[{"role": "system", "content": "Réponds brièvement 🌍"}, {"role": "user", "content": "2+2?\n"}]""", new UTF8Encoding(false));
        return dir;
    }

    [Fact]
    public void PrintsExactlyTheRenderedPrompt()
    {
        string dir = Folder(out string messages);
        try
        {
            var (code, stdout, stderr) = Run("template", "--tokenizer", dir, "--messages", messages, "--add-generation-prompt");
            Assert.True(code == 0, stderr);
            string expected = "<|begin_of_text|><|im_start|>system\nRéponds brièvement 🌍<|im_end|>\n<|im_start|>user\n2+2?\n<|im_end|>\n<|im_start|>assistant\n";
            Assert.Equal(new UTF8Encoding(false).GetBytes(expected), stdout);

            (code, stdout, _) = Run("template", "--tokenizer", dir, "--messages", messages);
            Assert.Equal(0, code);
            Assert.EndsWith("2+2?\n<|im_end|>\n", Encoding.UTF8.GetString(stdout), StringComparison.Ordinal);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void TemplateFileToolsAndTokenOverrides()
    {
        string dir = Folder(out string messages);
        try
        {
            string tpl = Path.Combine(dir, "t.jinja");
            File.WriteAllText(tpl, "{{ bos_token }}|{{ eos_token }}|{% for t in tools %}{{ t.name }}{% endfor %}|{{ messages | length }}|{{ add_generation_prompt }}\n");
            string tools = Path.Combine(dir, "tools.json");
            File.WriteAllText(tools, """[{"name": "calc"}, {"name": "search"}]""");
            var (code, stdout, stderr) = Run("template", "--tokenizer", dir, "--messages", messages, "--template", tpl, "--tools", tools, "--bos-token", "<B>");
            Assert.True(code == 0, stderr);
            // The template's single trailing newline is dropped, as Jinja2 does (keep_trailing_newline=False).
            Assert.Equal("<B>|<|end_of_text|>|calcsearch|2|False", Encoding.UTF8.GetString(stdout));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void TemplateErrorsExitNonZeroWithMessage()
    {
        string dir = Folder(out string messages);
        try
        {
            string tpl = Path.Combine(dir, "bad.jinja");
            File.WriteAllText(tpl, "ok\n{% if messages[0].role == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}");
            var (code, stdout, stderr) = Run("template", "--tokenizer", dir, "--messages", messages, "--template", tpl);
            Assert.NotEqual(0, code);
            Assert.Empty(stdout);
            Assert.Contains("System role not supported", stderr);
            Assert.Contains("line 2, column 41", stderr);

            File.WriteAllText(tpl, "{% for m in messages %}");
            (code, _, stderr) = Run("template", "--tokenizer", dir, "--messages", messages, "--template", tpl);
            Assert.NotEqual(0, code);
            Assert.Contains("never closed", stderr);

            (code, _, stderr) = Run("template", "--tokenizer", Path.Combine(dir, "missing"), "--messages", messages);
            Assert.NotEqual(0, code);
            Assert.Contains("missing", stderr);
        }
        finally { Directory.Delete(dir, true); }
    }
}
