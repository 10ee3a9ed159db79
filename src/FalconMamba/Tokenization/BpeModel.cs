using System.Collections.Concurrent;
using System.Runtime.CompilerServices;

namespace FalconMamba.Tokenization;

/// <summary>
/// Byte-pair-encoding model (tokenizers models/bpe/model.rs): a word's characters become symbols, then the adjacent
/// pair with the lowest merge rank is merged (leftmost first on ties) until no pair has a merge. Merges are kept as
/// a dictionary keyed on the pair of ids (no strings in the loop); results are cached per word.
/// </summary>
internal sealed class BpeModel
{
    /// <summary>token → id.</summary>
    public readonly Dictionary<string, int> Vocab;
    readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _vocabBySpan;
    readonly Dictionary<long, long> _merges;          // (left id << 32 | right id) → (rank << 32 | merged id)
    readonly int[] _charId = new int[0x10000];         // BMP character → id of its one-character token, -1 if none
    readonly int[] _byteId = new int[256];             // byte → id of "<0xXX>", -1 if none
    readonly ConcurrentDictionary<string, CachedWord> _cache = new();
    readonly ConcurrentDictionary<string, CachedWord>.AlternateLookup<ReadOnlySpan<char>> _cacheBySpan;
    int _cacheCount;

    const int CacheCapacity = 1 << 16;
    const int CacheMaxWordLength = 128;
    const int NaiveMergeLimit = 48; // below this many symbols a linear scan beats the heap

    public int UnkId { get; }
    public string? UnkToken { get; }
    public bool ByteFallback { get; }
    public bool FuseUnk { get; }
    public bool IgnoreMerges { get; }
    public string? ContinuingSubwordPrefix { get; }
    public string? EndOfWordSuffix { get; }
    public int MergeCount => _merges.Count;

    sealed record CachedWord(int[] Ids, int[] Ends);

    /// <summary>Builds the model; <c>where</c> names the file for errors (a merge naming an unknown token is one).</summary>
    public BpeModel(Dictionary<string, int> vocab, IReadOnlyList<(string Left, string Right)> merges, string? unkToken,
        bool byteFallback, bool fuseUnk, bool ignoreMerges, string? continuingSubwordPrefix, string? endOfWordSuffix, string where)
    {
        Vocab = vocab;
        _vocabBySpan = vocab.GetAlternateLookup<ReadOnlySpan<char>>();
        _cacheBySpan = _cache.GetAlternateLookup<ReadOnlySpan<char>>();
        UnkToken = unkToken;
        ByteFallback = byteFallback;
        FuseUnk = fuseUnk;
        IgnoreMerges = ignoreMerges;
        ContinuingSubwordPrefix = string.IsNullOrEmpty(continuingSubwordPrefix) ? null : continuingSubwordPrefix;
        EndOfWordSuffix = string.IsNullOrEmpty(endOfWordSuffix) ? null : endOfWordSuffix;
        UnkId = -1;
        if (unkToken != null && !vocab.TryGetValue(unkToken, out int unk))
            throw new ModelFormatException($"{where}: model.unk_token '{unkToken}' is not in the vocabulary");
        else if (unkToken != null) UnkId = vocab[unkToken];

        Array.Fill(_charId, -1);
        Array.Fill(_byteId, -1);
        foreach (var (tok, id) in vocab)
        {
            if (tok.Length == 1 && !char.IsSurrogate(tok[0])) _charId[tok[0]] = id;
            if (tok.Length == 6 && tok.StartsWith("<0x", StringComparison.Ordinal) && tok[5] == '>'
                && byte.TryParse(tok.AsSpan(3, 2), System.Globalization.NumberStyles.AllowHexSpecifier, null, out byte b)
                && tok.AsSpan(3, 2).SequenceEqual(b.ToString("X2")))
                _byteId[b] = id;
        }

        int prefixLen = ContinuingSubwordPrefix?.Length ?? 0;
        _merges = new Dictionary<long, long>(merges.Count, PairComparer.Instance);
        for (int r = 0; r < merges.Count; r++)
        {
            var (a, b) = merges[r];
            if (!vocab.TryGetValue(a, out int ia))
                throw new ModelFormatException($"{where}: model.merges[{r}] '{a} {b}' names '{a}', which is not in the vocabulary");
            if (!vocab.TryGetValue(b, out int ib))
                throw new ModelFormatException($"{where}: model.merges[{r}] '{a} {b}' names '{b}', which is not in the vocabulary");
            string merged = a + (prefixLen > 0 && b.StartsWith(ContinuingSubwordPrefix!, StringComparison.Ordinal) ? b[prefixLen..] : b);
            if (!vocab.TryGetValue(merged, out int im))
                throw new ModelFormatException($"{where}: model.merges[{r}] '{a} {b}' makes '{merged}', which is not in the vocabulary");
            _merges[Key(ia, ib)] = ((long)r << 32) | (uint)im; // a later duplicate replaces the earlier one, as in tokenizers
        }
    }

    /// <summary>
    /// Hashes a packed (left, right) pair with a multiplicative mix: <see cref="long.GetHashCode"/> is
    /// <c>left ^ right</c>, which sends every (x, x) pair (and every pair with equal xor) to one bucket.
    /// </summary>
    sealed class PairComparer : IEqualityComparer<long>
    {
        public static readonly PairComparer Instance = new();
        public bool Equals(long x, long y) => x == y;
        public int GetHashCode(long x) => (int)(((ulong)x * 0x9E3779B97F4A7C15UL) >> 32);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static long Key(int a, int b) => ((long)a << 32) | (uint)b;

    /// <summary>The id of a token string, or -1.</summary>
    public int TokenToId(ReadOnlySpan<char> token) => _vocabBySpan.TryGetValue(token, out int id) ? id : -1;

    /// <summary>
    /// Encodes one pre-token. Returns the token count; <paramref name="ids"/>[k] and the exclusive character end
    /// <paramref name="ends"/>[k] within <paramref name="word"/> describe token k. The arrays belong to the cache or the
    /// scratch: read them before the next call.
    /// </summary>
    public int EncodeWord(ReadOnlySpan<char> word, EncodeScratch sc, out int[] ids, out int[] ends)
    {
        bool cacheable = word.Length <= CacheMaxWordLength;
        if (cacheable && _cacheBySpan.TryGetValue(word, out var hit)) { ids = hit.Ids; ends = hit.Ends; return hit.Ids.Length; }

        int n;
        if (IgnoreMerges && _vocabBySpan.TryGetValue(word, out int whole))
        {
            sc.EnsureSymbols(1);
            sc.SymbolIds[0] = whole; sc.SymbolEnds[0] = word.Length; n = 1;
        }
        else
        {
            n = InitialSymbols(word, sc);
            n = n <= NaiveMergeLimit ? MergeNaive(sc, n) : MergeHeap(sc, n);
        }
        ids = sc.SymbolIds; ends = sc.SymbolEnds;
        if (cacheable)
        {
            if (Interlocked.Increment(ref _cacheCount) > CacheCapacity) { _cache.Clear(); Interlocked.Exchange(ref _cacheCount, 0); }
            var entry = new CachedWord(ids.AsSpan(0, n).ToArray(), ends.AsSpan(0, n).ToArray());
            _cache.TryAdd(word.ToString(), entry);
            ids = entry.Ids; ends = entry.Ends;
        }
        return n;
    }

    /// <summary>One symbol per character (byte fallback or unk for characters not in the vocabulary).</summary>
    int InitialSymbols(ReadOnlySpan<char> word, EncodeScratch sc)
    {
        // At most one symbol per UTF-16 unit, or three (the UTF-8 bytes of a BMP character) with byte fallback.
        sc.EnsureSymbols((ByteFallback ? 3 : 1) * word.Length + 1);
        int[] ids = sc.SymbolIds, ends = sc.SymbolEnds;
        int n = 0;
        bool plain = ContinuingSubwordPrefix == null && EndOfWordSuffix == null;
        bool pendingUnk = false;
        Span<char> tmp = stackalloc char[64];
        for (int i = 0; i < word.Length;)
        {
            int w = char.IsHighSurrogate(word[i]) && i + 1 < word.Length && char.IsLowSurrogate(word[i + 1]) ? 2 : 1;
            int id;
            if (plain && w == 1) id = _charId[word[i]];
            else
            {
                ReadOnlySpan<char> ch = word.Slice(i, w);
                if (plain) id = TokenToId(ch);
                else
                {
                    string pre = i > 0 ? ContinuingSubwordPrefix ?? "" : "";
                    string suf = i + w == word.Length ? EndOfWordSuffix ?? "" : "";
                    int len = pre.Length + w + suf.Length;
                    Span<char> s = len <= tmp.Length ? tmp[..len] : new char[len];
                    pre.CopyTo(s); ch.CopyTo(s[pre.Length..]); suf.CopyTo(s[(pre.Length + w)..]);
                    id = TokenToId(s);
                }
            }
            if (id >= 0)
            {
                ids[n] = id; ends[n++] = i + w; pendingUnk = false;
            }
            else if (ByteFallback && TryBytes(word.Slice(i, w), ids, ends, ref n, i + w))
            {
                pendingUnk = false;
            }
            else if (UnkId >= 0)
            {
                if (pendingUnk && FuseUnk) ends[n - 1] = i + w;
                else { ids[n] = UnkId; ends[n++] = i + w; }
                pendingUnk = true;
            }
            // else: tokenizers drops a character it cannot represent (no unk token, no byte fallback).
            i += w;
        }
        return n;
    }

    bool TryBytes(ReadOnlySpan<char> ch, int[] ids, int[] ends, ref int n, int end)
    {
        Span<byte> bytes = stackalloc byte[4];
        int count = System.Text.Encoding.UTF8.GetBytes(ch, bytes);
        for (int k = 0; k < count; k++) if (_byteId[bytes[k]] < 0) return false;
        for (int k = 0; k < count; k++) { ids[n] = _byteId[bytes[k]]; ends[n++] = end; }
        return true;
    }

    /// <summary>Scalar merge loop for short words: repeatedly merge the lowest-rank, leftmost pair.</summary>
    int MergeNaive(EncodeScratch sc, int n)
    {
        int[] ids = sc.SymbolIds, ends = sc.SymbolEnds;
        while (n > 1)
        {
            long best = long.MaxValue;
            int at = -1;
            for (int k = 0; k + 1 < n; k++)
                if (_merges.TryGetValue(Key(ids[k], ids[k + 1]), out long v) && v < best) { best = v; at = k; }
            if (at < 0) break;
            ids[at] = (int)(uint)best;
            ends[at] = ends[at + 1];
            Array.Copy(ids, at + 2, ids, at + 1, n - at - 2);
            Array.Copy(ends, at + 2, ends, at + 1, n - at - 2);
            n--;
        }
        return n;
    }

    /// <summary>
    /// The same merges with a priority queue of (rank, position) over a linked list of symbols, as tokenizers'
    /// word.rs does; O(n log n) for long words. Stale entries are skipped when popped.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // long words are rare: do not run this loop in tier-0 code
    int MergeHeap(EncodeScratch sc, int n)
    {
        int[] ids = sc.SymbolIds, ends = sc.SymbolEnds, prev = sc.Prev, next = sc.Next;
        var q = sc.Queue;
        q.Clear();
        for (int k = 0; k < n; k++) { prev[k] = k - 1; next[k] = k + 1 < n ? k + 1 : -1; }
        for (int k = 0; k + 1 < n; k++)
            if (_merges.TryGetValue(Key(ids[k], ids[k + 1]), out long v)) q.Enqueue(k, (v & ~0xFFFFFFFFL) | (uint)k);
        while (q.TryDequeue(out int k, out long pri))
        {
            if (ids[k] < 0) continue;
            int r = next[k];
            if (r < 0 || !_merges.TryGetValue(Key(ids[k], ids[r]), out long v) || (v >> 32) != (pri >> 32)) continue;
            ids[k] = (int)(uint)v;
            ends[k] = ends[r];
            ids[r] = -1;
            next[k] = next[r];
            if (next[r] >= 0) prev[next[r]] = k;
            int p = prev[k];
            if (p >= 0 && _merges.TryGetValue(Key(ids[p], ids[k]), out long vp)) q.Enqueue(p, (vp & ~0xFFFFFFFFL) | (uint)p);
            if (next[k] >= 0 && _merges.TryGetValue(Key(ids[k], ids[next[k]]), out long vn)) q.Enqueue(k, (vn & ~0xFFFFFFFFL) | (uint)k);
        }
        int m = 0;
        for (int k = 0; k >= 0 && k < n; k = next[k]) { ids[m] = ids[k]; ends[m++] = ends[k]; }
        return m;
    }
}
