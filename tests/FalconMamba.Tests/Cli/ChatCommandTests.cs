using FalconMamba.Tokenization.ChatTemplates;

namespace FalconMamba.Tests.Cli;

public class ChatCommandTests
{
    [Fact]
    public void ApplyChatTemplateRendersTheTokenizersChatMl()
    {
        var (_, tok) = FalconMamba.Tests.Generation.ChatClientTests.ModelWithTokenizer(5);
        string text = tok.ApplyChatTemplate([new ChatTemplateMessage("system", "be brief"), new ChatTemplateMessage("user", "hi")], addGenerationPrompt: true);
        Assert.Equal("<|im_start|>system\nbe brief<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n", text);
        var ids = tok.ApplyChatTemplateIds([new ChatTemplateMessage("user", "hi")], addGenerationPrompt: false);
        Assert.Equal(tok.TokenToId("<|im_start|>"), ids[0]);
    }

    [Fact]
    public void ChatKeepsTheStateBetweenTurns()
    {
        var (dir, _) = FalconMamba.Tests.Generation.ChatClientTests.ModelWithTokenizer(6);
        var r = CliHarness.RunWithInput("in the beginning\nand the lord said\n\n", "chat", "--model", dir, "-n", "4", "--temperature", "0", "--threads", "1");
        TestContext.Current.TestOutputHelper?.WriteLine(r.Stderr);
        Assert.Equal(0, r.ExitCode);
        var turns = r.Stderr.Split('\n').Where(l => l.Contains("kept in the state")).ToArray();
        Assert.Equal(2, turns.Length);
        Assert.Contains("(0 kept in the state)", turns[0]);
        Assert.DoesNotContain("(0 kept in the state)", turns[1]);
    }
}
