using System.Text.Json;

namespace FalconMamba.Evaluation;

/// <summary>One multiple-choice item: a context, candidate continuations, and the index of the right one.</summary>
public sealed record MultipleChoiceItem(string Context, IReadOnlyList<string> Choices, int Gold);

/// <summary>Accuracy as lm-evaluation-harness reports it.</summary>
/// <param name="Items">Items scored.</param>
/// <param name="Accuracy"><c>acc</c>: argmax of the summed log-likelihood.</param>
/// <param name="AccuracyNorm"><c>acc_norm</c>: argmax of log-likelihood divided by the continuation's length in bytes.</param>
public readonly record struct MultipleChoiceResult(int Items, double Accuracy, double AccuracyNorm);

/// <summary>lm-eval-style multiple choice: each choice is scored as a continuation of the context.</summary>
public static class MultipleChoice
{
    /// <summary>Reads JSONL items {"context", "choices", "gold"}; errors name the file and line.</summary>
    public static List<MultipleChoiceItem> Load(string path)
    {
        if (!File.Exists(path)) throw new FalconMambaException($"--tasks: '{path}' does not exist");
        var items = new List<MultipleChoiceItem>();
        int lineNo = 0;
        foreach (var line in File.ReadLines(path))
        {
            lineNo++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            try
            {
                using var d = JsonDocument.Parse(line);
                var r = d.RootElement;
                string ctx = r.GetProperty("context").GetString() ?? throw new FormatException("context is null");
                var choices = r.GetProperty("choices").EnumerateArray().Select(c => c.GetString() ?? "").ToArray();
                int gold = r.GetProperty("gold").GetInt32();
                if (choices.Length < 2 || gold < 0 || gold >= choices.Length) throw new FormatException($"gold {gold} with {choices.Length} choices");
                items.Add(new MultipleChoiceItem(ctx, choices, gold));
            }
            catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
            {
                throw new FalconMambaException($"{path}:{lineNo}: bad task line ({e.Message})");
            }
        }
        return items;
    }

    /// <summary>Scores every item; choices are tokenized as continuations (lm-eval puts the leading space in the choice).</summary>
    public static MultipleChoiceResult Run(Evaluator evaluator, IReadOnlyList<MultipleChoiceItem> items, Func<string, int[]> encode)
    {
        int acc = 0, accNorm = 0;
        foreach (var item in items)
        {
            var ctx = encode(item.Context);
            var conts = item.Choices.Select(c => (IReadOnlyList<int>)encode(c)).ToArray();
            var scores = evaluator.ScoreContinuations(ctx, conts);
            int best = 0, bestNorm = 0;
            for (int i = 1; i < scores.Length; i++)
            {
                if (scores[i].LogLikelihood > scores[best].LogLikelihood) best = i;
                double ni = scores[i].LogLikelihood / Math.Max(1, System.Text.Encoding.UTF8.GetByteCount(item.Choices[i]));
                double nb = scores[bestNorm].LogLikelihood / Math.Max(1, System.Text.Encoding.UTF8.GetByteCount(item.Choices[bestNorm]));
                if (ni > nb) bestNorm = i;
            }
            if (best == item.Gold) acc++;
            if (bestNorm == item.Gold) accNorm++;
        }
        return new MultipleChoiceResult(items.Count, acc / (double)Math.Max(1, items.Count), accNorm / (double)Math.Max(1, items.Count));
    }
}
