using System.Diagnostics;
using FalconMamba.Kernels;

namespace FalconMamba.Training;

/// <summary>What one optimizer step did.</summary>
public sealed record StepResult(long Step, double Tokens, double Loss, double Lr, int Batch, int SeqLen, double GradNorm, double Seconds);

/// <summary>Counters that, with weights, optimizer and loader position, make a run resumable bit-identically.</summary>
public sealed record TrainerState(long Step, double Tokens, LoaderState Loader);

/// <summary>
/// The training loop body: per step, batch b (ramp), length L (context stage) and η (WSD × BatchScaling) are computed
/// from the tokens seen; the batch is split into micro-batches whose gradients accumulate (each scaled by 1/(b·L), so
/// the sum is the gradient of the mean loss), then global-norm clipping and one AdamW update.
/// </summary>
public sealed class Trainer : IDisposable
{
    readonly WorkerPool _pool;
    readonly MambaBackprop _bp;
    readonly int[] _valid;
    /// <summary>The run config.</summary>
    public TrainConfig Config { get; }
    /// <summary>The live weights.</summary>
    public MambaParameters Parameters { get; }
    /// <summary>Gradient buffers (the last step's, after clipping).</summary>
    public MambaParameters Gradients { get; }
    /// <summary>The optimizer.</summary>
    public AdamW Optimizer { get; }
    /// <summary>The training-data loader.</summary>
    public DataLoader Loader { get; }
    /// <summary>Optimizer steps done.</summary>
    public long Step { get; private set; }
    /// <summary>Training tokens consumed.</summary>
    public double Tokens { get; private set; }

    /// <summary>Sets up a run over token streams in memory; <paramref name="state"/> continues a checkpoint (optimizer loaded by the caller).</summary>
    public Trainer(TrainConfig config, MambaParameters parameters, int[] train, int[] valid, TrainerState? state = null)
        : this(config, parameters, TokenSource.FromArray(train), valid, state) { }

    /// <summary>
    /// Sets up a run over a training stream that may be memory-mapped shards (<see cref="ShardTokenSource"/>, not owned:
    /// the caller disposes it after the trainer) and validation tokens in memory.
    /// </summary>
    public Trainer(TrainConfig config, MambaParameters parameters, TokenSource train, int[] valid, TrainerState? state = null)
    {
        Config = config.Validate();
        Parameters = parameters;
        Gradients = parameters.ZerosLike();
        _pool = new WorkerPool(config.Threads > 0 ? config.Threads : Environment.ProcessorCount);
        _bp = new MambaBackprop(parameters.Config, _pool, config.ScanChunk, config.LossChunk) { Precision = config.PrecisionMode };
        var opts = new AdamWOptions { Beta1 = config.Beta1, Beta2 = config.Beta2, Epsilon = config.Eps, WeightDecay = config.WeightDecay };
        if (config.NoDecay != null) opts = opts with { NoDecay = config.NoDecay };
        Optimizer = new AdamW(parameters, opts);
        Loader = new DataLoader(train, config.Seed, state?.Loader);
        _valid = valid;
        if (state != null) { Step = state.Step; Tokens = state.Tokens; }
    }

    /// <summary>The resumable counters.</summary>
    public TrainerState State => new(Step, Tokens, Loader.State);

    /// <summary>True when max_steps or max_tokens is reached.</summary>
    public bool Done => (Config.MaxSteps > 0 && Step >= Config.MaxSteps) || (Config.MaxTokens > 0 && Tokens >= Config.MaxTokens);

    /// <summary>One optimizer step.</summary>
    public StepResult TrainStep()
    {
        var sw = Stopwatch.StartNew();
        int b = Config.BatchAt(Tokens), len = Config.LengthAt(Tokens);
        // η at the tokens reached by the end of this step (as llm.c's (step+1)/warmup), so the first step does not run at η = 0
        double lr = Config.LrAt(Tokens + (double)b * len, b);
        int micro = Config.MicroBatch > 0 ? Math.Min(Config.MicroBatch, b) : b;
        Gradients.Clear();
        double loss = 0;
        float scale = 1f / (b * len);
        for (int done = 0; done < b; done += micro)
        {
            int cnt = Math.Min(micro, b - done);
            var inputs = new int[cnt * len];
            var targets = new int[cnt * len];
            Loader.Next(cnt, len, inputs, targets);
            loss += _bp.Run(Parameters, inputs, targets, cnt, len, Gradients, scale);
        }
        double norm = AdamW.ClipGlobalNorm(Gradients, Config.GradClip);
        Optimizer.Update(Parameters, Gradients, lr);
        Step++;
        Tokens += (double)b * len;
        return new StepResult(Step, Tokens, loss / (b * len), lr, b, len, norm, sw.Elapsed.TotalSeconds);
    }

    /// <summary>Mean next-token loss (nats) over the first eval_windows validation windows of the current length; NaN without validation data.</summary>
    public double Validate()
    {
        int len = Config.LengthAt(Tokens);
        var windows = DataLoader.Sequential(_valid, len, Config.EvalWindows).ToList();
        if (windows.Count == 0) return double.NaN;
        int micro = Config.MicroBatch > 0 ? Config.MicroBatch : Config.BatchSize;
        double total = 0;
        for (int i = 0; i < windows.Count; i += micro)
        {
            var part = windows.Skip(i).Take(micro).ToList();
            total += _bp.Run(Parameters, part.SelectMany(w => w.Inputs).ToArray(), part.SelectMany(w => w.Targets).ToArray(), part.Count, len, null);
        }
        return total / ((double)windows.Count * len);
    }

    /// <summary>Stops the worker threads.</summary>
    public void Dispose() => _pool.Dispose();
}
