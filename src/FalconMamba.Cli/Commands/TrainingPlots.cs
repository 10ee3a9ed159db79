using System.Globalization;

namespace FalconMamba.Cli.Commands;

/// <summary>PNG plots of a training run's metrics.csv (ScottPlot 5): loss.png (train + validation) and lr.png.</summary>
internal static class TrainingPlots
{
    public static string Write(string metricsCsv, string folder)
    {
        var rows = File.ReadAllLines(metricsCsv).Skip(1).Select(l => l.Split(',')).Where(r => r.Length >= 5).ToArray();
        static double P(string s) => double.Parse(s, CultureInfo.InvariantCulture);
        var tokens = rows.Select(r => P(r[1])).ToArray();
        var loss = new ScottPlot.Plot();
        var tr = loss.Add.Scatter(tokens, rows.Select(r => P(r[2])).ToArray());
        tr.LegendText = "train"; tr.MarkerSize = 0;
        var val = rows.Where(r => r[3].Length > 0).ToArray();
        if (val.Length > 0)
        {
            var v = loss.Add.Scatter(val.Select(r => P(r[1])).ToArray(), val.Select(r => P(r[3])).ToArray());
            v.LegendText = "validation"; v.MarkerSize = 5;
        }
        loss.Title("Loss"); loss.XLabel("tokens"); loss.YLabel("cross-entropy (nats)"); loss.ShowLegend();
        string lossPath = Path.Combine(folder, "loss.png");
        loss.SavePng(lossPath, 900, 500);
        var lr = new ScottPlot.Plot();
        var l = lr.Add.Scatter(tokens, rows.Select(r => P(r[4])).ToArray());
        l.MarkerSize = 0;
        lr.Title("Learning rate"); lr.XLabel("tokens"); lr.YLabel("η");
        string lrPath = Path.Combine(folder, "lr.png");
        lr.SavePng(lrPath, 900, 400);
        return $"{lossPath}, {lrPath}";
    }
}
