namespace FalconMamba.Training;

/// <summary>Where a <see cref="TokenDataLoader"/> stands; saved in checkpoints so a resumed run reads the same batches.</summary>
public sealed record LoaderPosition(int Epoch, long Cursor, int Context);

/// <summary>
/// Packs a token stream (documents already separated by eos, <see cref="TokenShards"/>) into windows of context+1 tokens
/// (inputs = window[0..T), targets = window[1..T+1)). The last <c>validationFraction</c> of the stream is held out for
/// validation. Training windows start at multiples of T and are visited in a seeded random permutation per epoch; a new
/// context length (a context stage) starts a new epoch. The position is a small record, so resume is exact.
/// </summary>
public sealed class TokenDataLoader
{
    readonly int[] _tokens;
    readonly long _trainEnd;
    readonly int _seed;
    int[] _order = [];
    /// <summary>Current position.</summary>
    public LoaderPosition Position { get; private set; }
    /// <summary>Tokens in the training part.</summary>
    public long TrainTokens => _trainEnd;
    /// <summary>Tokens in the validation part.</summary>
    public long ValidationTokens => _tokens.Length - _trainEnd;

    /// <summary>A loader over the concatenated tokens.</summary>
    public TokenDataLoader(int[] tokens, int seed, double validationFraction, int context)
    {
        if (validationFraction is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(validationFraction), "validation fraction must be in [0, 1)");
        _tokens = tokens;
        _seed = seed;
        _trainEnd = tokens.Length - (long)Math.Floor(tokens.Length * validationFraction);
        if (_trainEnd < context + 1) throw new FalconMambaException($"data: {_trainEnd} training tokens are fewer than one window of context {context} + 1");
        Position = new LoaderPosition(0, 0, context);
        BuildOrder();
    }

    /// <summary>Loads every *.bin shard of a folder (sorted by name), or a single shard file.</summary>
    public static int[] LoadShards(string path)
    {
        var files = Directory.Exists(path) ? Directory.GetFiles(path, "*.bin").Order(StringComparer.Ordinal).ToArray() : [path];
        if (files.Length == 0) throw new FalconMambaException($"data: no *.bin token shards in '{path}'");
        var parts = files.Select(TokenShards.Read).ToArray();
        var all = new int[parts.Sum(p => (long)p.Length)];
        long o = 0;
        foreach (var p in parts) { p.CopyTo(all, o); o += p.Length; }
        return all;
    }

    void BuildOrder()
    {
        int T = Position.Context;
        int windows = (int)((_trainEnd - 1) / T);
        if (windows < 1) throw new FalconMambaException($"data: no training window of context {T}");
        _order = Enumerable.Range(0, windows).ToArray();
        // Fisher–Yates with a per-(seed, epoch, context) RNG.
        var rng = new Random((int)((uint)_seed * 1000003u ^ (uint)Position.Epoch * 7919u ^ (uint)T * 104729u) & 0x7fffffff);   // not HashCode: it is randomised per process
        for (int i = _order.Length - 1; i > 0; i--) { int j = rng.Next(i + 1); (_order[i], _order[j]) = (_order[j], _order[i]); }
    }

    /// <summary>Moves to a saved position.</summary>
    public void Restore(LoaderPosition pos)
    {
        Position = pos;
        BuildOrder();
        if (pos.Cursor < 0 || pos.Cursor > _order.Length) throw new FalconMambaException($"data loader state: cursor {pos.Cursor} is outside 0..{_order.Length} windows of context {pos.Context}");
    }

    /// <summary>The next <paramref name="count"/> training windows of context <paramref name="context"/>.</summary>
    public (int[][] Inputs, int[][] Targets) NextBatch(int count, int context)
    {
        if (context != Position.Context) { Position = new LoaderPosition(Position.Epoch + 1, 0, context); BuildOrder(); }
        var inputs = new int[count][]; var targets = new int[count][];
        for (int i = 0; i < count; i++)
        {
            if (Position.Cursor >= _order.Length) { Position = Position with { Epoch = Position.Epoch + 1, Cursor = 0 }; BuildOrder(); }
            long start = (long)_order[Position.Cursor] * context;
            inputs[i] = _tokens.AsSpan((int)start, context).ToArray();
            targets[i] = _tokens.AsSpan((int)start + 1, context).ToArray();
            Position = Position with { Cursor = Position.Cursor + 1 };
        }
        return (inputs, targets);
    }

    /// <summary>Up to <paramref name="maxWindows"/> validation windows (always the same ones).</summary>
    public (int[][] Inputs, int[][] Targets) Validation(int context, int maxWindows)
    {
        long avail = (_tokens.Length - _trainEnd - 1) / context;
        int n = (int)Math.Min(avail, maxWindows);
        var inputs = new int[n][]; var targets = new int[n][];
        for (int i = 0; i < n; i++)
        {
            long s = _trainEnd + (long)i * context;
            inputs[i] = _tokens.AsSpan((int)s, context).ToArray();
            targets[i] = _tokens.AsSpan((int)s + 1, context).ToArray();
        }
        return (inputs, targets);
    }
}
