using System.CommandLine;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using FalconMamba.Tokenization;

namespace FalconMamba.Cli.Commands;

/// <summary>
/// <c>falcon-mamba tokenize --tokenizer PATH (--text T | --file F | --jsonl F) [--decode] [--format ids|json|tokens]</c>.
/// With <c>--jsonl</c>, each input line <c>{"text": "..."}</c> becomes an output line <c>{"ids": [...]}</c> in the same
/// order (with <c>--decode</c>: <c>{"ids": [...]}</c> → <c>{"text": "..."}</c>); lines are encoded in parallel.
/// Input files must be valid UTF-8; a bad line is reported with its file and line number.
/// </summary>
internal static class TokenizeCommand
{
    static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
    static readonly JsonSerializerOptions Json = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static Command Create()
    {
        var tokenizer = new Option<string>("--tokenizer") { Description = "tokenizer.json, or a folder holding it (and tokenizer_config.json).", Required = true };
        var text = new Option<string?>("--text") { Description = "Text to encode (with --decode: ids separated by commas or spaces)." };
        var file = new Option<string?>("--file") { Description = "UTF-8 file whose whole content is encoded (with --decode: ids)." };
        var jsonl = new Option<string?>("--jsonl") { Description = "JSON Lines file ('-' = stdin): {\"text\": ...} per line → {\"ids\": [...]} per line." };
        var decode = new Option<bool>("--decode") { Description = "Decode ids to text instead of encoding." };
        var format = new Option<string>("--format") { Description = "Output for --text/--file: ids (space-separated), json (ids, tokens, offsets), tokens (id and token per line).", DefaultValueFactory = _ => "ids" };
        format.AcceptOnlyFromAmong("ids", "json", "tokens");
        var noSpecial = new Option<bool>("--no-special-tokens") { Description = "Do not add post-processor tokens (BOS/EOS) when encoding." };
        var plainSpecials = new Option<bool>("--no-parse-special") { Description = "Treat special-token text in the input as plain text (for untrusted input)." };
        var skipSpecial = new Option<bool>("--skip-special") { Description = "Leave special tokens out when decoding." };
        var cmd = new Command("tokenize", "Encode text to token ids or decode ids to text with a Hugging Face tokenizer.json.")
            { tokenizer, text, file, jsonl, decode, format, noSpecial, plainSpecials, skipSpecial };
        cmd.SetAction(pr => CliRunner.Run(pr, () =>
        {
            int sources = (pr.GetValue(text) != null ? 1 : 0) + (pr.GetValue(file) != null ? 1 : 0) + (pr.GetValue(jsonl) != null ? 1 : 0);
            if (sources != 1) throw new ArgumentException("give exactly one of --text, --file, --jsonl");
            var sw = Stopwatch.StartNew();
            var tok = Tokenizer.Load(pr.GetValue(tokenizer)!);
            bool addSpecial = !pr.GetValue(noSpecial), parseSpecial = !pr.GetValue(plainSpecials), skip = pr.GetValue(skipSpecial);
            using var stdout = new StreamWriter(Console.OpenStandardOutput(), new UTF8Encoding(false), 1 << 16);
            if (pr.GetValue(jsonl) is string jl)
            {
                var lines = ReadLines(jl);
                if (pr.GetValue(decode)) DecodeJsonl(tok, jl, lines, skip, stdout);
                else EncodeJsonl(tok, jl, lines, addSpecial, parseSpecial, stdout);
                stdout.Flush();
                Console.Error.WriteLine($"{lines.Count} lines in {sw.Elapsed.TotalSeconds:F2} s");
                return 0;
            }
            string input = pr.GetValue(text) ?? ReadUtf8(pr.GetValue(file)!);
            string where = pr.GetValue(text) != null ? "--text" : pr.GetValue(file)!;
            if (pr.GetValue(decode))
            {
                stdout.Write(tok.Decode(CommonOptions.ParseIds(input, where), skip));
                stdout.WriteLine();
                return 0;
            }
            var enc = tok.Encode(input, addSpecial, parseSpecial);
            switch (pr.GetValue(format))
            {
                case "json":
                    stdout.WriteLine(JsonSerializer.Serialize(new
                    {
                        ids = enc.Ids,
                        tokens = enc.Tokens,
                        offsets = enc.Offsets.Select(o => new[] { o.Start, o.End }),
                    }, Json));
                    break;
                case "tokens":
                    for (int i = 0; i < enc.Count; i++) stdout.WriteLine($"{enc.Ids[i]}\t{JsonSerializer.Serialize(enc.Tokens[i], Json)}");
                    break;
                default:
                    stdout.WriteLine(string.Join(' ', enc.Ids));
                    break;
            }
            return 0;
        }));
        return cmd;
    }

    /// <summary>Reads a whole file as strict UTF-8, naming the file and line of an invalid byte.</summary>
    static string ReadUtf8(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        try { return StrictUtf8.GetString(bytes); }
        catch (DecoderFallbackException)
        {
            var lines = SplitLines(bytes);
            for (int i = 0; i < lines.Count; i++)
                try { StrictUtf8.GetString(lines[i]); }
                catch (DecoderFallbackException) { throw new FalconMambaException($"{path}:{i + 1}: invalid UTF-8"); }
            throw new FalconMambaException($"{path}: invalid UTF-8");
        }
    }

    /// <summary>Lines of a JSONL file (or stdin for '-') as strict UTF-8 strings; a trailing empty line is dropped.</summary>
    static List<string> ReadLines(string path)
    {
        byte[] bytes;
        if (path == "-")
        {
            using var ms = new MemoryStream();
            Console.OpenStandardInput().CopyTo(ms);
            bytes = ms.ToArray();
        }
        else bytes = File.ReadAllBytes(path);
        var raw = SplitLines(bytes);
        var lines = new List<string>(raw.Count);
        for (int i = 0; i < raw.Count; i++)
        {
            try { lines.Add(StrictUtf8.GetString(raw[i]).TrimEnd('\r')); }
            catch (DecoderFallbackException) { throw new FalconMambaException($"{path}:{i + 1}: invalid UTF-8"); }
        }
        return lines;
    }

    static List<byte[]> SplitLines(byte[] bytes)
    {
        var list = new List<byte[]>();
        int start = 0;
        for (int i = 0; i < bytes.Length; i++)
            if (bytes[i] == (byte)'\n') { list.Add(bytes[start..i]); start = i + 1; }
        if (start < bytes.Length) list.Add(bytes[start..]);
        return list;
    }

    static void EncodeJsonl(Tokenizer tok, string path, List<string> lines, bool addSpecial, bool parseSpecial, TextWriter output)
    {
        var texts = new string[lines.Count];
        for (int i = 0; i < lines.Count; i++)
            texts[i] = Field(path, i, lines[i], "text", JsonValueKind.String).GetString()!;
        var ids = tok.EncodeBatchToIds(texts, addSpecial, parseSpecial);
        var sb = new StringBuilder();
        foreach (var row in ids)
        {
            sb.Clear().Append("{\"ids\": [");
            for (int k = 0; k < row.Length; k++) { if (k > 0) sb.Append(", "); sb.Append(row[k]); }
            output.WriteLine(sb.Append("]}"));
        }
    }

    static void DecodeJsonl(Tokenizer tok, string path, List<string> lines, bool skip, TextWriter output)
    {
        for (int i = 0; i < lines.Count; i++)
        {
            var arr = Field(path, i, lines[i], "ids", JsonValueKind.Array);
            var ids = new List<int>();
            foreach (var x in arr.EnumerateArray())
                ids.Add(x.ValueKind == JsonValueKind.Number && x.TryGetInt32(out int v) && v >= 0 ? v
                    : throw new FalconMambaException($"{path}:{i + 1}: \"ids\" must hold non-negative integers, found {x.GetRawText()}"));
            string text;
            try { text = tok.Decode(ids.ToArray().AsSpan(), skip); }
            catch (FalconMambaException e) { throw new FalconMambaException($"{path}:{i + 1}: {e.Message}"); }
            output.WriteLine("{\"text\": " + JsonSerializer.Serialize(text, Json) + "}");
        }
    }

    /// <summary>Parses one JSONL line and returns its <paramref name="key"/> field, naming file and line on error.</summary>
    static JsonElement Field(string path, int index, string line, string key, JsonValueKind kind)
    {
        try
        {
            using var doc = JsonDocument.Parse(line);
            if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty(key, out var v) || v.ValueKind != kind)
                throw new FalconMambaException($"{path}:{index + 1}: expected an object with \"{key}\" ({(kind == JsonValueKind.String ? "a string" : "a list")})");
            return v.Clone();
        }
        catch (JsonException e) { throw new FalconMambaException($"{path}:{index + 1}: invalid JSON ({e.Message})"); }
    }
}
