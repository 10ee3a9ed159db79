using System.Runtime.CompilerServices;
using FalconMamba.Model;
using FalconMamba.Tokenization;

namespace FalconMamba.Generation;

/// <summary>A chat turn as the template sees it.</summary>
/// <param name="Role">"system", "user", "assistant", "tool".</param>
/// <param name="Content">The text.</param>
public sealed record ChatTurn(string Role, string Content);

/// <summary>Renders a conversation to prompt text (the model's Jinja chat template).</summary>
/// <param name="messages">The conversation so far.</param>
/// <param name="addGenerationPrompt">Append the assistant header.</param>
public delegate string ChatPromptRenderer(IReadOnlyList<ChatTurn> messages, bool addGenerationPrompt);

/// <summary>
/// A multi-turn conversation that keeps the recurrent state between turns: each turn renders the whole conversation
/// with the chat template, checks that the text already fed to the model is a prefix of it, and feeds only the new
/// part. So turn n costs its own tokens, not the history — what llama.cpp's server cannot do for recurrent models
/// (ECOSYSTEM.md ask #1). When the template re-renders history differently, the state is rebuilt from scratch.
/// </summary>
public sealed class ChatSession : IDisposable
{
    readonly Generator _generator;
    readonly Tokenizer _tokenizer;
    readonly ChatPromptRenderer _render;
    readonly List<ChatTurn> _messages = [];
    string _fedText = "";

    /// <summary>The conversation so far.</summary>
    public IReadOnlyList<ChatTurn> Messages => _messages;
    /// <summary>Prompt tokens of the last turn that were already in the state (not re-read).</summary>
    public int LastCachedTokens { get; private set; }
    /// <summary>Prompt tokens of the last turn that were fed.</summary>
    public int LastNewTokens { get; private set; }
    /// <summary>The generator (its stats and state).</summary>
    public Generator Generator => _generator;

    /// <summary>Creates a session over its own state.</summary>
    public ChatSession(MambaModel model, Tokenizer tokenizer, ChatPromptRenderer render, int threads = 0, int chunkSize = 64)
    {
        _generator = new Generator(model, threads, chunkSize);
        _tokenizer = tokenizer;
        _render = render;
    }

    /// <summary>Replaces the conversation (the state is kept and reused when the new one extends what was fed).</summary>
    public void SetMessages(IEnumerable<ChatTurn> messages)
    {
        _messages.Clear();
        _messages.AddRange(messages);
    }

    /// <summary>Adds a message without generating (e.g. the system prompt).</summary>
    public void Add(ChatTurn turn) => _messages.Add(turn);

    /// <summary>Adds the user message and streams the assistant's reply; the reply is appended to the conversation.</summary>
    public async IAsyncEnumerable<GeneratedToken> SendAsync(string userText, SamplingOptions options, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        _messages.Add(new ChatTurn("user", userText));
        await foreach (var t in ContinueAsync(options, cancellationToken)) yield return t;
    }

    /// <summary>Streams the assistant's reply to the conversation as it stands.</summary>
    public async IAsyncEnumerable<GeneratedToken> ContinueAsync(SamplingOptions options, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        string prompt = _render(_messages, true);
        string delta;
        if (_fedText.Length > 0 && prompt.StartsWith(_fedText, StringComparison.Ordinal))
        {
            delta = prompt[_fedText.Length..];
            LastCachedTokens = (int)_generator.State.Position;
        }
        else
        {
            _generator.Reset();
            delta = prompt;
            LastCachedTokens = 0;
        }
        int[] ids = _tokenizer.EncodeToIds(delta, addSpecialTokens: LastCachedTokens == 0);
        LastNewTokens = ids.Length;
        if (ids.Length == 0) throw new InvalidOperationException("the chat template rendered no new text for this turn");
        var streamer = _tokenizer.CreateStreamingDecoder(skipSpecialTokens: true);
        var reply = new System.Text.StringBuilder();
        string? eosText = null;
        await foreach (var t in _generator.GenerateAsync(ids, options, streamer, cancellationToken))
        {
            if (t.IsEos) { eosText = _tokenizer.IdToToken(t.Id); yield return t; break; }
            reply.Append(t.Text);
            yield return t;
        }
        string text = reply.ToString();
        _messages.Add(new ChatTurn("assistant", text));
        // What the state now holds (the last sampled token, eos included, is fed at the start of the next turn).
        _fedText = prompt + text + (eosText ?? "");
    }

    /// <summary>Forgets the conversation and the state.</summary>
    public void Reset()
    {
        _messages.Clear();
        _generator.Reset();
        _fedText = "";
    }

    /// <summary>Releases the generator.</summary>
    public void Dispose() => _generator.Dispose();
}
