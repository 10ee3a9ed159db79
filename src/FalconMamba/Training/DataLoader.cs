namespace FalconMamba.Training;

/// <summary>Where a <see cref="DataLoader"/> stands: enough to continue bit-identically after a restart.</summary>
public sealed record LoaderState(int Epoch, long Cursor, int SequenceLength);

/// <summary>
/// Serves batches of packed windows from one token stream (documents separated by EOS, as the shards store them), held
/// in memory or memory-mapped from shards (<see cref="TokenSource"/>).
/// Window i holds tokens [i·L, i·L + L] — L inputs and the L next-token targets — so no token is dropped between
/// windows. Windows are visited in a seeded Fisher–Yates order per epoch (seed, epoch and L determine it), so the
/// position (epoch, cursor, L) is the whole state. Changing L (a context stage) restarts the order of the current epoch.
/// </summary>
public sealed class DataLoader
{
    readonly TokenSource _stream;
    readonly int _seed;
    int[] _order = [];
    int[] _window = [];
    /// <summary>The current position.</summary>
    public LoaderState State { get; private set; }
    /// <summary>Tokens in the stream.</summary>
    public long Tokens => _stream.Length;

    /// <summary>A loader over <paramref name="stream"/> in memory, starting at <paramref name="state"/> (or the beginning).</summary>
    public DataLoader(int[] stream, int seed, LoaderState? state = null) : this(TokenSource.FromArray(stream), seed, state) { }

    /// <summary>A loader over <paramref name="stream"/> (not owned), starting at <paramref name="state"/> (or the beginning).</summary>
    public DataLoader(TokenSource stream, int seed, LoaderState? state = null)
    {
        _stream = stream;
        _seed = seed;
        State = state ?? new LoaderState(0, 0, 0);
        if (State.SequenceLength > 0) BuildOrder(State.SequenceLength);
    }

    /// <summary>Windows of length <paramref name="length"/> in the stream.</summary>
    public int WindowCount(int length) => (int)Math.Clamp((_stream.Length - 1) / length, 0, Array.MaxLength);

    void BuildOrder(int length)
    {
        int w = WindowCount(length);
        if (w == 0) throw new FalconMambaException($"training data has {_stream.Length} tokens, too few for one window of {length}+1");
        _order = new int[w];
        for (int i = 0; i < w; i++) _order[i] = i;
        // explicit mixing (HashCode.Combine is randomised per process, which would break resume)
        var rng = new Random((int)(((long)_seed * 1_000_003 + (long)State.Epoch * 7_919 + length) & int.MaxValue));
        for (int i = w - 1; i > 0; i--) { int j = rng.Next(i + 1); (_order[i], _order[j]) = (_order[j], _order[i]); }
    }

    /// <summary>Fills inputs/targets [batch·length] with the next <paramref name="batch"/> windows.</summary>
    public void Next(int batch, int length, int[] inputs, int[] targets)
    {
        if (length != State.SequenceLength)
        {
            State = new LoaderState(State.Epoch, 0, length);
            BuildOrder(length);
        }
        for (int b = 0; b < batch; b++)
        {
            if (State.Cursor >= _order.Length)
            {
                State = new LoaderState(State.Epoch + 1, 0, length);
                BuildOrder(length);
            }
            long start = (long)_order[State.Cursor] * length;
            if (_window.Length < length + 1) _window = new int[length + 1];
            _stream.Read(start, _window.AsSpan(0, length + 1));
            _window.AsSpan(0, length).CopyTo(inputs.AsSpan(b * length, length));
            _window.AsSpan(1, length).CopyTo(targets.AsSpan(b * length, length));
            State = State with { Cursor = State.Cursor + 1 };
        }
    }

    /// <summary>The first <paramref name="count"/> windows of <paramref name="stream"/> in order, read into memory.</summary>
    public static IEnumerable<(int[] Inputs, int[] Targets)> Sequential(TokenSource stream, int length, int count)
    {
        long w = Math.Min(count, (stream.Length - 1) / length);
        for (long i = 0; i < w; i++)
        {
            var window = new int[length + 1];
            stream.Read(i * length, window);
            yield return (window[..length], window[1..]);
        }
    }

    /// <summary>The first <paramref name="count"/> windows in stream order (validation: fixed, unshuffled).</summary>
    public static IEnumerable<(int[] Inputs, int[] Targets)> Sequential(int[] stream, int length, int count)
    {
        int w = (int)Math.Min(count, (stream.Length - 1) / length);
        for (int i = 0; i < w; i++)
            yield return (stream[(i * length)..(i * length + length)], stream[(i * length + 1)..(i * length + length + 1)]);
    }
}
