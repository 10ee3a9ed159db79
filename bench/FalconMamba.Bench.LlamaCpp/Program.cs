using System.Diagnostics;
using LLama;
using LLama.Common;
using LLama.Native;

// `FalconMamba.Bench.LlamaCpp --model FILE.gguf [--threads N] [--prompt 512] [--gen 32] [--runs 3] [--seed 1] [--mmap] [--json]`
// (also `compare --models A.gguf,B.gguf …`: ours and llama.cpp interleaved, with the ratios, see Compare.cs; `kl --base B.gguf --model Q.gguf --ids-file IDS` and `quantize --in F32.gguf --out Q.gguf --type q8_0`)
// The protocol of `falcon-mamba bench`: random prompt ids (the same generator and seed), one prefill batch with the
// logits of the last position only, then greedy decode one token per llama_decode call; a fresh context per run
// (created outside the timed region); median and min–max over runs.
string Arg(string name, string def)
{
    int i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : def;
}
if (args.Length > 0 && args[0] == "compare")
{
    try { return FalconMamba.Bench.LlamaCpp.Compare.Run(args); }
    catch (Exception e) when (e is ArgumentException or InvalidOperationException or InvalidDataException or IOException)
    {
        Console.Error.WriteLine($"error: {e.Message}");
        return 2;
    }
}
if (args.Length > 0 && args[0] == "ours")
{
    // `ours ARGS…`: the falcon-mamba CLI with ARGS, exactly as a user runs it (compare's child for our side)
    var entry = System.Reflection.Assembly.Load("falcon-mamba").EntryPoint ?? throw new InvalidOperationException("falcon-mamba has no entry point");
    var ret = entry.Invoke(null, [args[1..]]);
    return ret switch { Task<int> t => t.GetAwaiter().GetResult(), int i => i, _ => 0 };
}
if (args.Length > 0 && args[0] == "kl")
{
    NativeLibraryConfig.All.WithLogCallback((level, message) => { });
    NativeApi.llama_empty_call();
    return KlDivergence.Run(Arg("--base", ""), Arg("--model", ""), Arg("--ids-file", ""), int.Parse(Arg("--threads", Environment.ProcessorCount.ToString())));
}
if (args.Length > 0 && args[0] == "quantize")
{
    // llama_model_quantize (what llama-quantize does): quantize --in F32.gguf --out Q.gguf --type Q8_0|Q4_0|...
    NativeLibraryConfig.All.WithLogCallback((level, message) => { });
    NativeApi.llama_empty_call();
    var ftype = Enum.Parse<LLamaFtype>("MOSTLY_" + Arg("--type", "Q8_0").ToUpperInvariant());
    if (!LLamaQuantizer.Quantize(Arg("--in", ""), Arg("--out", ""), ftype, int.Parse(Arg("--threads", "2")), allowRequantize: true, quantizeOutputTensor: true))
    {
        Console.Error.WriteLine("error: llama_model_quantize failed");
        return 1;
    }
    Console.WriteLine($"llama.cpp quantized {Arg("--in", "")} → {Arg("--out", "")} ({ftype})");
    return 0;
}
if (args.Length == 0 || Array.IndexOf(args, "--model") < 0)
{
    Console.Error.WriteLine("usage: FalconMamba.Bench.LlamaCpp --model FILE.gguf [--threads N] [--prompt 512] [--gen 32] [--runs 3] [--seed 1]");
    return 2;
}
string path = Arg("--model", "");
int threads = int.Parse(Arg("--threads", Environment.ProcessorCount.ToString()));
int promptLen = int.Parse(Arg("--prompt", "512")), genLen = int.Parse(Arg("--gen", "32")), runs = int.Parse(Arg("--runs", "3")), seed = int.Parse(Arg("--seed", "1"));

NativeLibraryConfig.All.WithLogCallback((level, message) => { });
NativeApi.llama_empty_call();
var p = new ModelParams(path)
{
    ContextSize = (uint)(promptLen + genLen + 8),
    BatchSize = (uint)promptLen,
    UBatchSize = (uint)promptLen,
    Threads = threads,
    BatchThreads = threads,
    GpuLayerCount = 0,
};
// LLamaSharp's default load mode is None: llama.cpp reads the file into its own buffer (anonymous memory on 4 KiB pages
// here), as our --no-mmap copies it (onto 2 MiB pages). --mmap uses the file mapping in place, as our default does.
if (args.Contains("--mmap")) p.LoadMode = LLama.Native.LLamaLoadMode.MemoryMap;
Console.Error.WriteLine($"loading {path} ... (load mode {p.LoadMode})");
using var weights = LLamaWeights.LoadFromFile(p);
int vocab = weights.Vocab.Count;
var rng = new Random(seed);
var prompt = Enumerable.Range(0, promptLen).Select(_ => rng.Next(vocab)).ToArray();
var prefill = new List<double>(); var decode = new List<double>();
for (int r = -1; r < runs; r++)   // run −1: warm-up (pages the weights in), not reported
{
    using var ctx = weights.CreateContext(p);
    var batch = new LLamaBatch();
    // the warm-up run pages the weights in with a short prompt (as `falcon-mamba bench` does): a 512-token prefill of a
    // 7B model would add minutes and measure nothing
    int len = r < 0 ? Math.Min(promptLen, 8) : promptLen;
    for (int i = 0; i < len; i++) batch.Add(prompt[i], i, LLamaSeqId.Zero, i == len - 1);
    long t0 = Stopwatch.GetTimestamp();
    Check(ctx.Decode(batch));
    int next = ArgMax(ctx.NativeHandle.GetLogitsIth(len - 1)[..vocab]);
    double tPrefill = Stopwatch.GetElapsedTime(t0).TotalSeconds;
    long t1 = Stopwatch.GetTimestamp();
    int gen = r < 0 ? 2 : genLen;
    for (int i = 0; i < gen; i++)
    {
        batch.Clear();
        batch.Add(next, len + i, LLamaSeqId.Zero, true);
        Check(ctx.Decode(batch));
        next = ArgMax(ctx.NativeHandle.GetLogitsIth(0)[..vocab]);
    }
    double tDecode = Stopwatch.GetElapsedTime(t1).TotalSeconds;
    if (r < 0) continue;
    prefill.Add(promptLen / tPrefill);
    decode.Add(genLen / tDecode);
    Console.Error.WriteLine($"run {r + 1}/{runs}: prefill {prefill[^1]:F2} tok/s ({tPrefill:F2} s), decode {decode[^1]:F2} tok/s");
}
if (args.Contains("--json"))
{
    // the fields `falcon-mamba bench --json` uses, so `compare` reads both engines the same way
    using var stdout = Console.OpenStandardOutput();
    using var w = new System.Text.Json.Utf8JsonWriter(stdout, new System.Text.Json.JsonWriterOptions { Indented = true });
    w.WriteStartObject();
    w.WriteString("engine", $"llama.cpp (LLamaSharp {typeof(LLamaWeights).Assembly.GetName().Version})");
    w.WriteString("model", path);
    w.WriteString("load_mode", p.LoadMode.ToString());
    w.WriteNumber("threads", threads);
    w.WriteNumber("prompt_tokens", promptLen);
    w.WriteNumber("gen_tokens", genLen);
    w.WriteNumber("runs", runs);
    foreach (var (name, v) in new[] { ("prefill_tok_s", prefill), ("decode_tok_s", decode) })
    {
        w.WriteStartObject(name);
        w.WriteNumber("median", Math.Round(Median(v), 3));
        w.WriteNumber("min", Math.Round(v.Min(), 3));
        w.WriteNumber("max", Math.Round(v.Max(), 3));
        w.WriteEndObject();
    }
    w.WriteNumber("peak_rss_mib", Math.Round(FalconMamba.Cli.Commands.CommonOptions.PeakRssMiB(), 1));
    w.WriteEndObject();
    w.Flush();
    Console.WriteLine();
    return 0;
}
string load = File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a";
Console.WriteLine($"llama.cpp (LLamaSharp {typeof(LLamaWeights).Assembly.GetName().Version}) {path}, threads {threads}, prompt {promptLen}, gen {genLen}, runs {runs}");
Console.WriteLine($"prefill  {Median(prefill):F2} tok/s (min {prefill.Min():F2}, max {prefill.Max():F2})");
Console.WriteLine($"decode   {Median(decode):F2} tok/s (min {decode.Min():F2}, max {decode.Max():F2})");
Console.WriteLine($"load average {load}");
return 0;

static double Median(List<double> v) => FalconMamba.Bench.LlamaCpp.Compare.Median(v);
static int ArgMax(ReadOnlySpan<float> v) { int b = 0; for (int i = 1; i < v.Length; i++) if (v[i] > v[b]) b = i; return b; }
static void Check(DecodeResult r) { if (r != DecodeResult.Ok) throw new InvalidOperationException($"llama_decode failed: {r}"); }
