namespace FalconMamba.Tokenization;

/// <summary>
/// A post-processor: adds special tokens around one encoded sequence and/or adjusts offsets
/// (tokenizers processors/*.rs). Pairs of sequences are not part of this API.
/// </summary>
internal abstract class PostProcessor
{
    /// <summary>Rewrites <paramref name="ids"/>/<paramref name="offsets"/> in place.</summary>
    public abstract void Process(List<int> ids, List<(int Start, int End)> offsets, bool addSpecialTokens, Func<int, string?> idToToken);
}

/// <summary>Runs processors in order.</summary>
internal sealed class SequencePostProcessor(PostProcessor[] items) : PostProcessor
{
    public override void Process(List<int> ids, List<(int Start, int End)> offsets, bool addSpecialTokens, Func<int, string?> idToToken)
    {
        foreach (var p in items) p.Process(ids, offsets, addSpecialTokens, idToToken);
    }
}

/// <summary>
/// ByteLevel as a post-processor: ids unchanged; with <c>trim_offsets</c>, offsets drop the leading and trailing
/// spaces of their token (byte_level.rs <c>process_offsets</c>).
/// </summary>
internal sealed class ByteLevelPostProcessor(bool trimOffsets, bool addPrefixSpace) : PostProcessor
{
    public override void Process(List<int> ids, List<(int Start, int End)> offsets, bool addSpecialTokens, Func<int, string?> idToToken)
    {
        if (!trimOffsets) return;
        char spaceChar = ByteLevelTable.ByteToChar[' '];
        for (int i = 0; i < ids.Count; i++)
        {
            string tok = idToToken(ids[i]) ?? "";
            int lead = 0, trail = 0;
            while (lead < tok.Length && (tok[lead] == spaceChar || char.IsWhiteSpace(tok[lead]))) lead++;
            while (trail < tok.Length && (tok[tok.Length - 1 - trail] == spaceChar || char.IsWhiteSpace(tok[tok.Length - 1 - trail]))) trail++;
            var (s, e) = offsets[i];
            if (lead > 0)
            {
                bool isFirst = i == 0 || s == 0;
                if (!(isFirst && addPrefixSpace && lead == 1)) s = Math.Min(s + lead, e);
            }
            if (trail > 0 && e >= trail) e = Math.Max(e - trail, s);
            offsets[i] = (s, e);
        }
    }
}

/// <summary>
/// <c>TemplateProcessing</c> for a single sequence (template.rs): the <c>single</c> template's special-token pieces
/// (each may stand for several ids) around the sequence <c>$A</c>; nothing is added when special tokens are off.
/// </summary>
internal sealed class TemplatePostProcessor(IReadOnlyList<int[]?> single) : PostProcessor
{
    /// <summary>Template items: null is the sequence, otherwise the ids of a special token.</summary>
    public IReadOnlyList<int[]?> Single { get; } = single;

    public override void Process(List<int> ids, List<(int Start, int End)> offsets, bool addSpecialTokens, Func<int, string?> idToToken)
    {
        if (!addSpecialTokens) return;
        var seqIds = ids.ToArray();
        var seqOff = offsets.ToArray();
        ids.Clear(); offsets.Clear();
        foreach (var item in Single)
        {
            if (item == null) { ids.AddRange(seqIds); offsets.AddRange(seqOff); }
            else foreach (int id in item) { ids.Add(id); offsets.Add((0, 0)); }
        }
    }
}

/// <summary>Adds the configured BOS/EOS ids (tokenizer_config.json add_bos_token/add_eos_token when tokenizer.json has no post-processor).</summary>
internal sealed class BosEosPostProcessor(int bos, int eos) : PostProcessor
{
    public override void Process(List<int> ids, List<(int Start, int End)> offsets, bool addSpecialTokens, Func<int, string?> idToToken)
    {
        if (!addSpecialTokens) return;
        if (bos >= 0) { ids.Insert(0, bos); offsets.Insert(0, (0, 0)); }
        if (eos >= 0) { ids.Add(eos); offsets.Add((0, 0)); }
    }
}
