using System.Globalization;

namespace FalconMamba.Training;

/// <summary>One row of metrics.csv.</summary>
public sealed record MetricsRow(long Step, double Tokens, double Loss, double ValLoss, double Lr, int Batch, int SeqLen, double GradNorm, double TokensPerSecond, double ElapsedSeconds);

/// <summary>
/// metrics.csv of a run: <c>step,tokens,loss,val_loss,lr,batch,seq_len,grad_norm,tok_per_s,elapsed_s</c> (val_loss empty
/// when not evaluated). Reopening for a resumed run drops rows after the checkpoint's step.
/// </summary>
public sealed class MetricsLog
{
    /// <summary>The CSV header.</summary>
    public const string Header = "step,tokens,loss,val_loss,lr,batch,seq_len,grad_norm,tok_per_s,elapsed_s";
    readonly string _path;

    /// <summary>Opens (creating or truncating to <paramref name="keepUpToStep"/>) the CSV at <paramref name="path"/>.</summary>
    public MetricsLog(string path, long keepUpToStep)
    {
        _path = path;
        var keep = Read(path).Where(r => r.Step <= keepUpToStep).ToList();
        File.WriteAllLines(path, [Header, .. keep.Select(Format)]);
    }

    /// <summary>Appends a row.</summary>
    public void Append(MetricsRow r) => File.AppendAllLines(_path, [Format(r)]);

    static string Format(MetricsRow r)
    {
        var c = CultureInfo.InvariantCulture;
        return string.Join(",", r.Step.ToString(c), r.Tokens.ToString("R", c), r.Loss.ToString("R", c), double.IsNaN(r.ValLoss) ? "" : r.ValLoss.ToString("R", c),
            r.Lr.ToString("R", c), r.Batch.ToString(c), r.SeqLen.ToString(c), r.GradNorm.ToString("R", c), r.TokensPerSecond.ToString("F1", c), r.ElapsedSeconds.ToString("F3", c));
    }

    /// <summary>Reads the rows of a metrics.csv (none when the file does not exist); a bad row is an error naming its line.</summary>
    public static List<MetricsRow> Read(string path)
    {
        var rows = new List<MetricsRow>();
        if (!File.Exists(path)) return rows;
        var c = CultureInfo.InvariantCulture;
        int line = 0;
        foreach (var l in File.ReadLines(path))
        {
            line++;
            if (line == 1 || l.Length == 0) continue;
            var f = l.Split(',');
            try
            {
                rows.Add(new MetricsRow(long.Parse(f[0], c), double.Parse(f[1], c), double.Parse(f[2], c), f[3].Length == 0 ? double.NaN : double.Parse(f[3], c),
                    double.Parse(f[4], c), int.Parse(f[5], c), int.Parse(f[6], c), double.Parse(f[7], c), double.Parse(f[8], c), double.Parse(f[9], c)));
            }
            catch (Exception e) when (e is FormatException or IndexOutOfRangeException or OverflowException)
            {
                throw new FalconMambaException($"{path}:{line}: malformed metrics row");
            }
        }
        return rows;
    }
}
