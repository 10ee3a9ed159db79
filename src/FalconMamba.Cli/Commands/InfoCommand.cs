using System.CommandLine;
using FalconMamba.Model;

namespace FalconMamba.Cli.Commands;

/// <summary><c>falcon-mamba info --model PATH</c>: architecture, parameters, dtypes, weight bytes, state bytes.</summary>
internal static class InfoCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var cmd = new Command("info", "Show a model's architecture, parameter count, dtypes, weight bytes and state size.") { model };
        cmd.SetAction(pr => CliRunner.Run(pr, () =>
        {
            using var m = CliRunner.LoadModel(pr, pr.GetValue(model)!);
            var c = m.Config;
            var w = m.Weights;
            var types = new[] { w.Embedding, w.LmHead }.Concat(w.Layers.SelectMany(l => new[] { l.InProj, l.XProj, l.DtProj, l.OutProj }))
                .GroupBy(x => x.Type).Select(g => $"{g.Key}×{g.Count()}");
            Console.WriteLine($"architecture     {c.ModelType} ({(c.UseBcdtRms ? "with" : "without")} B/C/dt RMS norms)");
            Console.WriteLine($"layers           {c.NumHiddenLayers}");
            Console.WriteLine($"d_model          {c.HiddenSize}");
            Console.WriteLine($"d_inner          {c.IntermediateSize}");
            Console.WriteLine($"d_state          {c.StateSize}");
            Console.WriteLine($"dt_rank          {c.TimeStepRank}");
            Console.WriteLine($"conv_kernel      {c.ConvKernel}");
            Console.WriteLine($"vocab_size       {c.VocabSize}");
            Console.WriteLine($"tied lm_head     {ReferenceEquals(w.LmHead, w.Embedding)}");
            Console.WriteLine($"eps              layer_norm {c.LayerNormEpsilon:G}, mixer_rms {c.MixerRmsEps:G}");
            Console.WriteLine($"eos ids          {string.Join(", ", c.EosTokenIds)}");
            Console.WriteLine($"parameters       {w.ParameterCount:N0}");
            Console.WriteLine($"matrix dtypes    {string.Join(", ", types)}");
            Console.WriteLine($"weight bytes     {w.TotalBytes:N0} ({CommonOptions.FormatBytes(w.TotalBytes)})");
            Console.WriteLine($"bytes per token  {w.BytesPerToken:N0} ({CommonOptions.FormatBytes(w.BytesPerToken)}) read per decoded token");
            Console.WriteLine($"state per seq    {MambaState.SizeFor(c):N0} ({CommonOptions.FormatBytes(MambaState.SizeFor(c))}, f32, independent of context length)");
            return 0;
        }));
        return cmd;
    }
}
