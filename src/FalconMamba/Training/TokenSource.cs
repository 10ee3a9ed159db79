using System.IO.MemoryMappedFiles;

namespace FalconMamba.Training;

/// <summary>
/// A read-only stream of token ids that <see cref="DataLoader"/> cuts windows from: an array in memory, or
/// <see cref="ShardTokenSource"/>, token shards memory-mapped and read a window at a time, so the training set is
/// bounded by disk, not by RAM (an in-memory int[] costs 4 bytes per token: 4 GB per 10⁹ tokens).
/// </summary>
public abstract class TokenSource : IDisposable
{
    /// <summary>Tokens in the stream.</summary>
    public abstract long Length { get; }

    /// <summary>Copies tokens [start, start + dst.Length) into <paramref name="dst"/>.</summary>
    public abstract void Read(long start, Span<int> dst);

    /// <summary>A source over an array held in memory (not copied).</summary>
    public static TokenSource FromArray(int[] tokens) => new ArrayTokenSource(tokens);

    /// <summary>Releases mapped files, if any.</summary>
    public virtual void Dispose() { }

    /// <summary>Throws unless [start, start + count) lies inside the stream.</summary>
    protected void CheckRange(long start, int count)
    {
        if (start < 0 || count < 0 || start + count > Length)
            throw new ArgumentOutOfRangeException(nameof(start), $"tokens [{start}, {start + count}) are outside the stream of {Length}");
    }

    sealed class ArrayTokenSource(int[] tokens) : TokenSource
    {
        public override long Length => tokens.LongLength;
        public override void Read(long start, Span<int> dst)
        {
            CheckRange(start, dst.Length);
            tokens.AsSpan((int)start, dst.Length).CopyTo(dst);
        }
    }
}

/// <summary>
/// Token shards (<see cref="TokenShards"/> format) concatenated in the given order and memory-mapped: each header is
/// checked against its file's length when opened, ids are widened from uint16/uint32 as windows are read, and an id
/// outside the vocabulary is an error naming the shard and position (a corrupt shard must not index past the
/// embedding). Reads may be called from one thread at a time.
/// </summary>
public sealed unsafe class ShardTokenSource : TokenSource
{
    readonly string[] _paths;
    readonly MemoryMappedFile[] _files;
    readonly MemoryMappedViewAccessor[] _views;
    readonly byte*[] _data;         // first id of each shard
    readonly int[] _width;          // bytes per id
    readonly long[] _start;         // stream offset of each shard's first token; _start[^1] = Length
    readonly int _vocabSize;

    /// <summary>Maps <paramref name="paths"/> in order; ids must be below <paramref name="vocabSize"/> (0 = unchecked).</summary>
    public ShardTokenSource(IReadOnlyList<string> paths, int vocabSize = 0)
    {
        int n = paths.Count;
        _paths = [.. paths];
        _files = new MemoryMappedFile[n];
        _views = new MemoryMappedViewAccessor[n];
        _data = new byte*[n];
        _width = new int[n];
        _start = new long[n + 1];
        _vocabSize = vocabSize;
        try
        {
            for (int i = 0; i < n; i++)
            {
                string path = _paths[i];
                if (!File.Exists(path)) throw new FalconMambaException($"token shard '{path}' does not exist");
                long length = new FileInfo(path).Length;
                if (length == 0) throw new ModelFormatException($"{path}: not a token shard (empty file)");
                _files[i] = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
                _views[i] = _files[i].CreateViewAccessor(0, length, MemoryMappedFileAccess.Read);
                byte* p = null;
                _views[i].SafeMemoryMappedViewHandle.AcquirePointer(ref p);
                p += _views[i].PointerOffset;
                _data[i] = p + TokenShards.DataOffset;   // set first, so Dispose releases the pointer if the header is bad
                var (width, count) = TokenShards.ParseHeader(path, new ReadOnlySpan<byte>(p, (int)Math.Min(length, TokenShards.DataOffset)), length);
                _width[i] = width;
                _start[i + 1] = _start[i] + count;
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <inheritdoc />
    public override long Length => _start[^1];

    /// <inheritdoc />
    public override void Read(long start, Span<int> dst)
    {
        CheckRange(start, dst.Length);
        int s = Array.BinarySearch(_start, start);
        if (s < 0) s = ~s - 1;
        while (s < _paths.Length - 1 && _start[s + 1] <= start) s++;   // skip empty shards
        int done = 0;
        while (done < dst.Length)
        {
            long local = start + done - _start[s];
            int take = (int)Math.Min(dst.Length - done, _start[s + 1] - _start[s] - local);
            var part = dst.Slice(done, take);
            if (_width[s] == 2)
            {
                var src = new ReadOnlySpan<ushort>(_data[s] + 2 * local, take);
                for (int i = 0; i < take; i++) part[i] = src[i];
            }
            else new ReadOnlySpan<int>(_data[s] + 4 * local, take).CopyTo(part);
            if (_vocabSize > 0)
                for (int i = 0; i < take; i++)
                    if ((uint)part[i] >= (uint)_vocabSize)
                        throw new ModelFormatException($"{_paths[s]}: token {local + i} has id {part[i]}, outside the vocabulary [0, {_vocabSize})");
            done += take;
            s++;
        }
    }

    /// <inheritdoc />
    public override void Dispose()
    {
        for (int i = 0; i < _views.Length; i++)
        {
            if (_views[i] is { } v)
            {
                if (_data[i] != null) v.SafeMemoryMappedViewHandle.ReleasePointer();
                v.Dispose();
                _views[i] = null!;
                _data[i] = null;
            }
            _files[i]?.Dispose();
            _files[i] = null!;
        }
    }
}
