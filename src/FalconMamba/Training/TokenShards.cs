using System.Buffers.Binary;
using System.Text.Json;

namespace FalconMamba.Training;

/// <summary>
/// Binary token shards: a 16-byte header — magic "FMTK", version 1 (u32), bytes per token (u32: 2 for vocab ≤ 65535,
/// else 4), token count (u32) — then the tokens little-endian. Documents are stored back to back, each followed by
/// the eos id, so a loader can pack them without knowing document boundaries.
/// </summary>
public static class TokenShards
{
    const uint Magic = 0x4B544D46; // "FMTK"

    /// <summary>Documents of a .txt (the whole file is one document) or .jsonl file (the "text" field of each line).</summary>
    public static IEnumerable<string> ReadDocuments(string path)
    {
        if (path.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
        {
            int lineNo = 0;
            foreach (var line in File.ReadLines(path))
            {
                lineNo++;
                if (string.IsNullOrWhiteSpace(line)) continue;
                string? text;
                try
                {
                    using var doc = JsonDocument.Parse(line);
                    if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("text", out var t) || t.ValueKind != JsonValueKind.String)
                        throw new FalconMambaException($"{path}:{lineNo}: expected an object with a string field \"text\"");
                    text = t.GetString();
                }
                catch (JsonException e) { throw new FalconMambaException($"{path}:{lineNo}: invalid JSON ({e.Message})", e); }
                yield return text ?? "";
            }
        }
        else yield return File.ReadAllText(path);
    }

    /// <summary>
    /// Tokenizes the documents of <paramref name="inputs"/> in parallel (order preserved) with <paramref name="encode"/>
    /// and writes shards of about <paramref name="shardTokens"/> tokens named shard-00000.bin… into <paramref name="outDir"/>.
    /// Progress reports (documents done, tokens written). Returns the shard paths.
    /// </summary>
    public static IReadOnlyList<string> Write(IEnumerable<string> inputs, Func<string, int[]> encode, string outDir, int vocabSize, int eosId,
        long shardTokens = 1 << 26, IProgress<(long Docs, long Tokens)>? progress = null, int threads = 0)
    {
        Directory.CreateDirectory(outDir);
        int width = vocabSize <= 65535 ? 2 : 4;
        var paths = new List<string>();
        var buffer = new List<int>();
        long docs = 0, tokens = 0;
        void Flush()
        {
            if (buffer.Count == 0) return;
            string path = Path.Combine(outDir, $"shard-{paths.Count:D5}.bin");
            WriteShard(path, buffer, width);
            paths.Add(path);
            buffer.Clear();
        }
        var opts = new ParallelOptions { MaxDegreeOfParallelism = threads > 0 ? threads : Environment.ProcessorCount };
        foreach (var file in inputs)
        {
            // Batches of documents tokenized in parallel, appended in input order.
            foreach (var batch in ReadDocuments(file).Chunk(256))
            {
                var ids = new int[batch.Length][];
                Parallel.For(0, batch.Length, opts, i => ids[i] = encode(batch[i]));
                foreach (var d in ids)
                {
                    foreach (int id in d)
                        if ((uint)id >= (uint)vocabSize) throw new FalconMambaException($"{file}: the tokenizer produced id {id}, outside the vocabulary (0..{vocabSize - 1})");
                    buffer.AddRange(d);
                    buffer.Add(eosId);
                    tokens += d.Length + 1;
                    docs++;
                    if (buffer.Count >= shardTokens) Flush();
                }
                progress?.Report((docs, tokens));
            }
        }
        Flush();
        return paths;
    }

    static void WriteShard(string path, List<int> tokens, int width)
    {
        string tmp = path + ".tmp";
        using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write))
        {
            Span<byte> head = stackalloc byte[16];
            BinaryPrimitives.WriteUInt32LittleEndian(head, Magic);
            BinaryPrimitives.WriteUInt32LittleEndian(head[4..], 1);
            BinaryPrimitives.WriteUInt32LittleEndian(head[8..], (uint)width);
            BinaryPrimitives.WriteUInt32LittleEndian(head[12..], (uint)tokens.Count);
            fs.Write(head);
            var buf = new byte[tokens.Count * width];
            for (int i = 0; i < tokens.Count; i++)
                if (width == 2) BinaryPrimitives.WriteUInt16LittleEndian(buf.AsSpan(i * 2), (ushort)tokens[i]);
                else BinaryPrimitives.WriteUInt32LittleEndian(buf.AsSpan(i * 4), (uint)tokens[i]);
            fs.Write(buf);
        }
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>Reads one shard into an int array, checking the header and length.</summary>
    public static int[] Read(string path)
    {
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length < 16 || BinaryPrimitives.ReadUInt32LittleEndian(bytes) != Magic)
            throw new FalconMambaException($"{path}: not a token shard (missing FMTK header)");
        uint version = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(4)), width = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(8));
        long count = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(12));
        if (version != 1) throw new FalconMambaException($"{path}: token shard version {version} is not supported (expected 1)");
        if (width is not (2 or 4)) throw new FalconMambaException($"{path}: token width {width} bytes is invalid (expected 2 or 4)");
        if (bytes.Length != 16 + count * width) throw new FalconMambaException($"{path}: header says {count} tokens of {width} bytes but the file has {bytes.Length - 16} data bytes (truncated?)");
        var result = new int[count];
        for (long i = 0; i < count; i++)
            result[i] = width == 2 ? BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan((int)(16 + i * 2))) : (int)BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan((int)(16 + i * 4)));
        return result;
    }
}
