using FalconMamba.Bench;

// Bench tools: `random-model --shape falcon-mamba-7b --dtype BF16 --out DIR [--seed N]`;
// `train-bench [--d 256 --layers 8 --vocab 4096 --ctx 512 --batch 8 --steps 4 --threads 0 --mem-ctx 256,512,... --precision f32|bf16
//   --ab-rounds N --scan-chunk 64 --loss-chunk 64 --gemm-only 0]`.
if (args.Length == 0 || args[0] is "-h" or "--help")
{
    Console.WriteLine("usage: FalconMamba.Bench random-model --shape NAME --dtype F32|F16|BF16 --out DIR [--seed N]");
    return 0;
}
string Arg(string name, string? def = null)
{
    int i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : def ?? throw new ArgumentException($"missing {name}");
}
try
{
    switch (args[0])
    {
        case "random-model":
            var cfg = RandomModelWriter.Shape(Arg("--shape"));
            var sw = System.Diagnostics.Stopwatch.StartNew();
            RandomModelWriter.Write(cfg, Arg("--dtype", "BF16").ToUpperInvariant(), Arg("--out"), int.Parse(Arg("--seed", "1")), Console.Error.WriteLine);
            Console.Error.WriteLine($"wrote {Arg("--out")} in {sw.Elapsed.TotalSeconds:F1} s");
            return 0;
        case "kernels":
            KernelBench.Run(int.Parse(Arg("--threads", Environment.ProcessorCount.ToString())), int.Parse(Arg("--rows", "8192")), int.Parse(Arg("--cols", "4096")), int.Parse(Arg("--tokens", "64")));
            return 0;
        case "decode-layout":
            DecodeLayoutBench.Run(int.Parse(Arg("--threads", "1")), Arg("--cols", "768,4096,8192").Split(',').Select(int.Parse).ToArray(), int.Parse(Arg("--mib", "512")));
            return 0;
        case "pad-dt-rank":
            return PadDtRank.Run((name, def) => Arg(name, def));
        case "train-bench":
            return TrainBench.Run((name, def) => Arg(name, def));
        default:
            Console.Error.WriteLine($"error: unknown command '{args[0]}'");
            return 2;
    }
}
catch (Exception e) when (e is ArgumentException or FalconMamba.FalconMambaException or IOException)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 1;
}
