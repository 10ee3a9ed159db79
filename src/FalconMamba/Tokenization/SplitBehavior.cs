namespace FalconMamba.Tokenization;

/// <summary>
/// What a splitting pre-tokenizer does with the matched parts (HF <c>SplitDelimiterBehavior</c>):
/// drop them, keep each alone, glue each to the piece before or after it, or merge runs of same-kind parts.
/// </summary>
internal enum SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous }

/// <summary>Applies a <see cref="SplitBehavior"/> to the alternating matched/unmatched parts of one piece.</summary>
internal static class SplitParts
{
    public static SplitBehavior Parse(string? s, string where) => s switch
    {
        "Removed" => SplitBehavior.Removed,
        "Isolated" => SplitBehavior.Isolated,
        "MergedWithPrevious" => SplitBehavior.MergedWithPrevious,
        "MergedWithNext" => SplitBehavior.MergedWithNext,
        "Contiguous" => SplitBehavior.Contiguous,
        _ => throw new ModelFormatException($"{where}: unknown split behavior '{s}' (expected Removed, Isolated, MergedWithPrevious, MergedWithNext or Contiguous)"),
    };

    /// <summary>
    /// Turns <paramref name="parts"/> (in order, covering the piece) into pieces appended to <paramref name="output"/>;
    /// empty pieces are dropped. Mirrors tokenizers' <c>NormalizedString::split</c> (normalizer.rs).
    /// </summary>
    public static void Emit(List<(int Start, int End, bool Match)> parts, SplitBehavior behavior, List<(int Start, int End, int Id)> output)
    {
        int first = output.Count;
        switch (behavior)
        {
            case SplitBehavior.Removed:
                foreach (var p in parts) if (!p.Match) output.Add((p.Start, p.End, -1));
                break;
            case SplitBehavior.Isolated:
                foreach (var p in parts) output.Add((p.Start, p.End, -1));
                break;
            case SplitBehavior.MergedWithPrevious:
            {
                bool previousMatch = false;
                foreach (var p in parts)
                {
                    if (p.Match && !previousMatch && output.Count > first)
                        output[^1] = (output[^1].Start, p.End, -1);
                    else output.Add((p.Start, p.End, -1));
                    previousMatch = p.Match;
                }
                break;
            }
            case SplitBehavior.MergedWithNext:
            {
                // A match glues onto the following part when that part is not itself a match (folded from the right).
                bool nextMatch = false;
                int insertAt = output.Count;
                for (int k = parts.Count - 1; k >= 0; k--)
                {
                    var p = parts[k];
                    if (p.Match && !nextMatch && output.Count > insertAt)
                        output[^1] = (p.Start, output[^1].End, -1);
                    else output.Add((p.Start, p.End, -1));
                    nextMatch = p.Match;
                }
                output.Reverse(insertAt, output.Count - insertAt);
                break;
            }
            case SplitBehavior.Contiguous:
            {
                bool previousMatch = false;
                foreach (var p in parts)
                {
                    if (p.Match == previousMatch && output.Count > first)
                        output[^1] = (output[^1].Start, p.End, -1);
                    else output.Add((p.Start, p.End, -1));
                    previousMatch = p.Match;
                }
                break;
            }
        }
        // Drop empty pieces (tokenizers filters them after every split).
        int w = first;
        for (int r = first; r < output.Count; r++)
            if (output[r].End > output[r].Start) output[w++] = output[r];
        output.RemoveRange(w, output.Count - w);
    }
}
