using FalconMamba.Generation;
using FalconMamba.Model;
using FalconMamba.Tokenization;
using FalconMamba.Tokenization.Trainer;
using Microsoft.Extensions.AI;

namespace FalconMamba.Tests.Generation;

public class ChatClientTests
{
    internal static (string Dir, Tokenizer Tok) ModelWithTokenizer(int seed)
    {
        var bpe = BpeTrainer.Train(FalconMamba.Tests.TokenizerTraining.BpeTrainerTests.Corpus(200, seed), new BpeTrainerOptions { VocabSize = 320 });
        var cfg = TestModel.MakeConfig(d: 32, e: 64, v: 320) with { EosTokenIds = [2] };
        string dir = new TestModel(cfg, seed).WriteFolder(TestPaths.NewTempDir());
        BpeTrainer.Save(bpe, dir);
        return (dir, Tokenizer.Load(dir));
    }

    static string ChatMl(IReadOnlyList<ChatTurn> messages, bool addGenerationPrompt) =>
        string.Concat(messages.Select(m => $"<|im_start|>{m.Role}\n{m.Content}<|im_end|>\n")) + (addGenerationPrompt ? "<|im_start|>assistant\n" : "");

    [Fact]
    public async Task FollowUpTurnsReuseTheStateAndReportCachedTokens()
    {
        var (dir, tok) = ModelWithTokenizer(3);
        using var model = MambaModel.Load(dir);
        using IChatClient client = new FalconMambaChatClient(model, tok, ChatMl, threads: 1);
        var options = new ChatOptions { MaxOutputTokens = 6, Temperature = 0 };
        List<ChatMessage> history = [new(ChatRole.System, "the king said"), new(ChatRole.User, "unto the lord")];
        var first = await client.GetResponseAsync(history, options);
        Assert.Equal(0, first.Usage!.CachedInputTokenCount);
        Assert.True(first.Usage.OutputTokenCount > 0);
        history.Add(first.Messages[0]);
        history.Add(new(ChatRole.User, "and the people"));
        var second = await client.GetResponseAsync(history, options);
        long firstTotal = first.Usage.InputTokenCount!.Value + first.Usage.OutputTokenCount!.Value;
        TestContext.Current.TestOutputHelper?.WriteLine($"turn 1: {first.Usage.InputTokenCount} prompt + {first.Usage.OutputTokenCount} generated; turn 2: cached {second.Usage!.CachedInputTokenCount}, new {second.Usage.InputTokenCount - second.Usage.CachedInputTokenCount}");
        // everything of turn 1 except the last sampled token (fed at the start of turn 2) stayed in the state
        Assert.Equal(firstTotal - 1, second.Usage!.CachedInputTokenCount);
        // a conversation that does not extend the previous one starts over
        var fresh = await client.GetResponseAsync([new(ChatRole.User, "thy house")], options);
        Assert.Equal(0, fresh.Usage!.CachedInputTokenCount);
        // deterministic: the same conversation from a new client gives the same reply
        using IChatClient other = new FalconMambaChatClient(model, tok, ChatMl, threads: 1);
        var again = await other.GetResponseAsync([new(ChatRole.User, "thy house")], options);
        Assert.Equal(fresh.Text, again.Text);
        Assert.NotNull(client.GetService(typeof(ChatClientMetadata)));
    }

    [Fact]
    public async Task StreamingYieldsTextThenUsageAndFinishReason()
    {
        var (dir, tok) = ModelWithTokenizer(4);
        using var model = MambaModel.Load(dir);
        using IChatClient client = new FalconMambaChatClient(model, tok, ChatMl, threads: 1);
        var updates = new List<ChatResponseUpdate>();
        await foreach (var u in client.GetStreamingResponseAsync([new(ChatRole.User, "in the beginning")], new ChatOptions { MaxOutputTokens = 5, Temperature = 0.8f, Seed = 3 }))
            updates.Add(u);
        Assert.Equal(ChatFinishReason.Length, updates[^1].FinishReason);
        Assert.Contains(updates[^1].Contents, c => c is UsageContent);
        Assert.Equal(5, ((UsageContent)updates[^1].Contents.First(c => c is UsageContent)).Details!.OutputTokenCount);
    }
}
