using FalconMamba.Training;

namespace FalconMamba.Cli.Commands;

/// <summary>loss.png (train and validation loss vs tokens) and lr.png (η and batch vs tokens) from a run's metrics.csv, with ScottPlot 5.</summary>
internal static class TrainingPlots
{
    public static void Write(string output)
    {
        var rows = MetricsLog.Read(Path.Combine(output, "metrics.csv"));
        if (rows.Count == 0) return;
        double[] x = rows.Select(r => r.Tokens).ToArray();
        var loss = new ScottPlot.Plot();
        var tr = loss.Add.ScatterLine(x, rows.Select(r => r.Loss).ToArray());
        tr.LegendText = "train";
        var vrows = rows.Where(r => !double.IsNaN(r.ValLoss)).ToList();
        if (vrows.Count > 0)
        {
            var va = loss.Add.Scatter(vrows.Select(r => r.Tokens).ToArray(), vrows.Select(r => r.ValLoss).ToArray());
            va.LegendText = "validation";
        }
        loss.XLabel("tokens"); loss.YLabel("cross-entropy (nats)"); loss.Title("loss"); loss.ShowLegend();
        loss.SavePng(Path.Combine(output, "loss.png"), 900, 500);
        var lr = new ScottPlot.Plot();
        lr.Add.ScatterLine(x, rows.Select(r => r.Lr).ToArray()).LegendText = "learning rate";
        lr.XLabel("tokens"); lr.YLabel("η"); lr.Title("learning rate"); lr.ShowLegend();
        lr.SavePng(Path.Combine(output, "lr.png"), 900, 400);
    }
}
