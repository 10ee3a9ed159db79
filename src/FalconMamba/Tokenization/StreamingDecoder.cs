using FalconMamba.Generation;

namespace FalconMamba.Tokenization;

/// <summary>
/// Incremental decoding: push one id, get the text it completes. Never emits part of a UTF-8 character; the
/// concatenation of every <see cref="Push"/> and the final <see cref="Flush"/> equals
/// <c>Decode(ids, skipSpecialTokens, cleanUpTokenizationSpaces)</c>. Not thread-safe (one per stream).
/// </summary>
/// <remarks>
/// With a ByteLevel decoder it works on bytes: it emits everything up to a trailing, still-valid but incomplete
/// UTF-8 sequence (cutting before a lead byte leaves the UTF-8 decoder in the same state as decoding the whole
/// stream). Other decoders (Metaspace, ByteFallback, …) re-decode the ids pushed so far and emit the new suffix,
/// holding back while the text ends in U+FFFD (an incomplete byte run); that is quadratic in the stream length.
/// With clean-up of tokenization spaces, text is released only up to a point preceded by four non-space characters:
/// every clean-up pattern starts with a space and is at most four characters long, and the rules only delete spaces,
/// so no pattern can straddle such a point and cleaning the pieces equals cleaning the whole.
/// </remarks>
public sealed class StreamingDecoder : ITokenTextStreamer
{
    readonly Tokenizer _tok;
    readonly bool _skip;
    readonly List<byte> _pending = new();
    readonly List<int> _ids = new();
    readonly bool _cleanUp;
    string _held = "";
    int _emitted;

    /// <summary>Creates a decoder for one stream of ids.</summary>
    /// <param name="tokenizer">The tokenizer.</param>
    /// <param name="skipSpecialTokens">Leave out special tokens.</param>
    /// <param name="cleanUpTokenizationSpaces">Apply transformers' clean-up (null: tokenizer_config.json).</param>
    public StreamingDecoder(Tokenizer tokenizer, bool skipSpecialTokens = false, bool? cleanUpTokenizationSpaces = null)
    {
        _tok = tokenizer;
        _skip = skipSpecialTokens;
        _cleanUp = cleanUpTokenizationSpaces ?? tokenizer.Config.CleanUpTokenizationSpaces;
    }

    /// <summary>Adds one id; returns the newly completed text (possibly empty).</summary>
    public string Push(int tokenId) => Release(PushRaw(tokenId), final: false);

    /// <summary>Text up to the last point where clean-up is settled (everything when clean-up is off or at the end).</summary>
    string Release(string fresh, bool final)
    {
        if (!_cleanUp) return fresh;
        string t = _held + fresh;
        int cut = t.Length;
        if (!final)
        {
            // The largest cut with four non-space characters before it.
            int run = 0;
            cut = 0;
            for (int i = 0; i < t.Length; i++)
            {
                run = t[i] == ' ' ? 0 : run + 1;
                if (run >= 4) cut = i + 1;
            }
        }
        _held = t[cut..];
        return cut == 0 ? "" : Tokenizer.CleanUpTokenizationSpaces(t[..cut]);
    }

    string PushRaw(int tokenId)
    {
        if (_tok.DecodesToBytes)
        {
            foreach (byte b in _tok.TokenBytes(tokenId, _skip)) _pending.Add(b);
            int cut = CompletePrefix(_pending);
            if (cut == 0) return "";
            string s = Utf8Lossy.Decode(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_pending)[..cut]);
            _pending.RemoveRange(0, cut);
            return s;
        }
        _ids.Add(tokenId);
        string text = _tok.Decode(_ids.ToArray().AsSpan(), _skip, cleanUpTokenizationSpaces: false);
        if (text.Length <= _emitted || text[^1] == '\uFFFD') return "";
        string fresh = text[_emitted..];
        _emitted = text.Length;
        return fresh;
    }

    /// <summary>Returns whatever is held back (an incomplete character decodes to U+FFFD); call once at the end.</summary>
    public string Flush() => Release(FlushRaw(), final: true);

    string FlushRaw()
    {
        if (_tok.DecodesToBytes)
        {
            string s = Utf8Lossy.Decode(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_pending));
            _pending.Clear();
            return s;
        }
        string text = _tok.Decode(_ids.ToArray().AsSpan(), _skip, cleanUpTokenizationSpaces: false);
        string rest = text.Length > _emitted ? text[_emitted..] : "";
        _emitted = text.Length;
        return rest;
    }

    /// <summary>
    /// Length of the prefix that can be decoded now: all bytes, unless they end in the start of a multi-byte
    /// character that is valid so far but not finished (Unicode Table 3-7 ranges), which is held back.
    /// </summary>
    internal static int CompletePrefix(List<byte> b)
    {
        int n = b.Count;
        for (int k = n - 1; k >= 0 && k >= n - 3; k--)
        {
            byte x = b[k];
            if ((x & 0xC0) == 0x80) continue; // continuation byte: look further back
            int need = x >= 0xC2 && x <= 0xDF ? 2 : x >= 0xE0 && x <= 0xEF ? 3 : x >= 0xF0 && x <= 0xF4 ? 4 : 0;
            if (need == 0 || n - k >= need) return n; // ASCII, invalid lead, or complete
            // Check the second byte's allowed range for this lead; later bytes are any continuation.
            if (n - k >= 2)
            {
                byte y = b[k + 1];
                bool ok = x switch
                {
                    0xE0 => y is >= 0xA0 and <= 0xBF,
                    0xED => y is >= 0x80 and <= 0x9F,
                    0xF0 => y is >= 0x90 and <= 0xBF,
                    0xF4 => y is >= 0x80 and <= 0x8F,
                    _ => y is >= 0x80 and <= 0xBF,
                };
                if (!ok) return n;
            }
            return k;
        }
        return n;
    }
}
