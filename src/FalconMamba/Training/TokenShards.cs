using System.Buffers.Binary;
using System.Text.Json;
using FalconMamba.Tokenization;

namespace FalconMamba.Training;

/// <summary>
/// Token shard files (<c>*.tok</c>): a 24-byte header — magic "FMTK", u32 version (1), u32 bytes per token (2 = uint16
/// when the vocabulary fits, else 4 = uint32), u32 reserved, i64 token count — then the ids little-endian. Documents are
/// stored back to back, each followed by the EOS id, so a loader can pack windows across document boundaries.
/// </summary>
public static class TokenShards
{
    const int HeaderBytes = 24;
    static readonly byte[] Magic = "FMTK"u8.ToArray();

    /// <summary>Writes one shard (temp file + rename); uint16 when every id is below 65536.</summary>
    public static void Write(string path, ReadOnlySpan<int> tokens, int vocabSize)
    {
        int width = vocabSize <= 65536 ? 2 : 4;
        var bytes = new byte[HeaderBytes + (long)tokens.Length * width];
        Magic.CopyTo(bytes, 0);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4), 1);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(8), (uint)width);
        BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(16), tokens.Length);
        for (int i = 0; i < tokens.Length; i++)
        {
            if ((uint)tokens[i] >= (uint)vocabSize) throw new FalconMambaException($"{path}: token id {tokens[i]} is outside the vocabulary [0, {vocabSize})");
            if (width == 2) BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(HeaderBytes + 2 * i), (ushort)tokens[i]);
            else BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(HeaderBytes + 4L * i is var o && o < int.MaxValue ? (int)o : throw new FalconMambaException($"{path}: shard too large")), tokens[i]);
        }
        string tmp = path + ".tmp";
        File.WriteAllBytes(tmp, bytes);
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>Reads a shard into memory; a bad header or a truncated file is an error naming the file.</summary>
    public static int[] Read(string path)
    {
        byte[] b;
        try { b = File.ReadAllBytes(path); }
        catch (IOException e) { throw new FalconMambaException($"{path}: cannot read token shard ({e.Message})", e); }
        var (width, count) = ParseHeader(path, b, b.LongLength);
        var t = new int[count];
        for (int i = 0; i < count; i++)
            t[i] = width == 2 ? BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(HeaderBytes + 2 * i)) : BinaryPrimitives.ReadInt32LittleEndian(b.AsSpan(HeaderBytes + 4 * i));
        return t;
    }

    /// <summary>Bytes before the first token id.</summary>
    internal const int DataOffset = HeaderBytes;

    /// <summary>
    /// Checks a shard's header against the file's length and returns (bytes per token, token count); a bad magic,
    /// version or width, or a length that does not match the count (truncated or padded), is an error naming the file.
    /// </summary>
    internal static (int Width, long Count) ParseHeader(string path, ReadOnlySpan<byte> header, long fileLength)
    {
        if (fileLength < HeaderBytes || header.Length < HeaderBytes || !header[..4].SequenceEqual(Magic))
            throw new ModelFormatException($"{path}: not a token shard (missing 'FMTK' header)");
        uint version = BinaryPrimitives.ReadUInt32LittleEndian(header[4..]), width = BinaryPrimitives.ReadUInt32LittleEndian(header[8..]);
        long count = BinaryPrimitives.ReadInt64LittleEndian(header[16..]);
        if (version != 1) throw new ModelFormatException($"{path}: token shard version {version} is not supported (expected 1)");
        if (width != 2 && width != 4) throw new ModelFormatException($"{path}: token width {width} bytes (expected 2 or 4)");
        if (count < 0 || count > (fileLength - HeaderBytes) / width || HeaderBytes + count * width != fileLength)
            throw new ModelFormatException($"{path}: header says {count} tokens of {width} bytes but the file has {fileLength - HeaderBytes} data bytes (truncated?)");
        return ((int)width, count);
    }

    /// <summary>
    /// Documents of a text source: a <c>.jsonl</c> file gives one per line (its "text" string); any other file is split
    /// into documents at blank lines. Malformed JSON is an error naming file and line.
    /// </summary>
    public static IEnumerable<string> ReadDocuments(string path)
    {
        if (!File.Exists(path)) throw new FalconMambaException($"data file '{path}' does not exist");
        if (path.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase))
        {
            int line = 0;
            foreach (var l in File.ReadLines(path))
            {
                line++;
                if (string.IsNullOrWhiteSpace(l)) continue;
                string? text;
                try
                {
                    using var doc = JsonDocument.Parse(l);
                    if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("text", out var t) || t.ValueKind != JsonValueKind.String)
                        throw new FalconMambaException($"{path}:{line}: expected an object with a string field \"text\"");
                    text = t.GetString();
                }
                catch (JsonException e) { throw new FalconMambaException($"{path}:{line}: invalid JSON ({e.Message})", e); }
                if (!string.IsNullOrEmpty(text)) yield return text;
            }
        }
        else
        {
            var sb = new System.Text.StringBuilder();
            foreach (var l in File.ReadLines(path))
            {
                if (l.Trim().Length == 0) { if (sb.Length > 0) { yield return sb.ToString(); sb.Clear(); } continue; }
                if (sb.Length > 0) sb.Append('\n');
                sb.Append(l);
            }
            if (sb.Length > 0) yield return sb.ToString();
        }
    }

    /// <summary>
    /// Tokenizes documents in parallel (batches of 4096 through <see cref="Tokenizer.EncodeBatchToIds"/>, special-token
    /// text treated as plain text), appends <paramref name="eosId"/> after each, and writes shards
    /// <c>{prefix}-00000.tok</c>… of at most <paramref name="shardTokens"/> tokens. Documents whose index i satisfies
    /// i % validEvery == validEvery−1 go to the <c>{prefix}-valid</c> shards when <paramref name="validEvery"/> &gt; 0.
    /// Reports documents done. Returns (train shards, valid shards, train tokens, valid tokens).
    /// </summary>
    public static (List<string> Train, List<string> Valid, long TrainTokens, long ValidTokens) Prepare(
        Tokenizer tokenizer, IEnumerable<string> documents, string folder, string prefix, int eosId, int validEvery = 0,
        long shardTokens = 1 << 27, IProgress<long>? progress = null, CancellationToken cancel = default)
    {
        Directory.CreateDirectory(folder);
        var outputs = new[] { new List<string>(), new List<string>() };
        var buffers = new[] { new List<int>(), new List<int>() };
        var totals = new long[2];
        void Flush(int which, bool final)
        {
            var buf = buffers[which];
            while (buf.Count >= shardTokens || (final && buf.Count > 0))
            {
                int n = (int)Math.Min(buf.Count, shardTokens);
                string name = Path.Combine(folder, $"{prefix}{(which == 1 ? "-valid" : "")}-{outputs[which].Count:D5}.tok");
                Write(name, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(buf)[..n], tokenizer.VocabSize);
                outputs[which].Add(name);
                buf.RemoveRange(0, n);
            }
        }
        long docIndex = 0;
        foreach (var batch in documents.Chunk(4096))
        {
            cancel.ThrowIfCancellationRequested();
            var ids = tokenizer.EncodeBatchToIds(batch, addSpecialTokens: false, parseSpecialTokens: false);
            foreach (var doc in ids)
            {
                int which = validEvery > 0 && docIndex % validEvery == validEvery - 1 ? 1 : 0;
                buffers[which].AddRange(doc);
                buffers[which].Add(eosId);
                totals[which] += doc.Length + 1;
                docIndex++;
            }
            Flush(0, false); Flush(1, false);
            progress?.Report(docIndex);
        }
        Flush(0, true); Flush(1, true);
        return (outputs[0], outputs[1], totals[0], totals[1]);
    }
}
