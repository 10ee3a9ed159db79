using FalconMamba.Kernels;

namespace FalconMamba.Model;

/// <summary>
/// A loaded Mamba / Falcon Mamba causal LM: immutable weights, shareable across threads. Run it through a
/// <see cref="MambaContext"/> (scratch buffers + thread pool, one per concurrent user) on a <see cref="MambaState"/>
/// (one per sequence).
///
/// Glossary (Gu &amp; Dao 2023, "Mamba"; HF config.json keys): D = d_model (hidden_size), E = d_inner
/// (intermediate_size), N = d_state (state_size), R = dt_rank (time_step_rank), k = conv width (conv_kernel),
/// V = vocab_size, T = tokens in the current chunk. Δ = softplus(dt_proj(dt) + bias) is the step size, A = −exp(A_log).
/// </summary>
public sealed class MambaModel : IDisposable
{
    /// <summary>The config.</summary>
    public MambaConfig Config => Weights.Config;
    /// <summary>The weights.</summary>
    public MambaWeights Weights { get; }
    /// <summary>Per layer: conv weight transposed to [k, E] so the conv vectorizes over channels.</summary>
    internal float[][] ConvWeightT { get; }
    /// <summary>eps used by the weightless B/C/dt norms (mixer_rms_eps; llama.cpp files use the layer-norm eps).</summary>
    public float MixerEps => (float)Config.MixerRmsEps;

    /// <summary>Wraps loaded weights.</summary>
    public MambaModel(MambaWeights weights)
    {
        Weights = weights;
        int e = Config.IntermediateSize, k = Config.ConvKernel;
        ConvWeightT = weights.Layers.Select(l =>
        {
            var t = new float[k * e];
            for (int c = 0; c < e; c++)
                for (int j = 0; j < k; j++) t[j * e + c] = l.ConvWeight[c * k + j];
            return t;
        }).ToArray();
    }

    /// <summary>Loads a Hugging Face model folder (config.json + safetensors) or a GGUF file.</summary>
    public static MambaModel Load(string path, ModelLoadOptions? options = null, IProgress<double>? progress = null) =>
        new(ModelLoader.LoadWeights(path, options ?? new ModelLoadOptions(), progress));

    /// <summary>A new empty state for one sequence.</summary>
    public MambaState CreateState() => new(Config);

    /// <summary>A workspace to run the model (not thread-safe; create one per concurrent user).</summary>
    public MambaContext CreateContext(int threads = 0, int chunkSize = 64) => new(this, threads, chunkSize);

    /// <summary>Releases the weight mappings.</summary>
    public void Dispose() => Weights.Dispose();
}

/// <summary>Options for loading a model.</summary>
public sealed record ModelLoadOptions
{
    /// <summary>Quantize linear weights at load (null = keep the stored type).</summary>
    public TensorType? Quantize { get; init; }

    /// <summary>
    /// Use the weights in place in the file mapping (true, the default, as llama.cpp's <c>--mmap</c>), or copy them into
    /// RAM on 2 MiB pages and release the files (false, <c>--no-mmap</c>; see <see cref="WeightResidency"/>).
    /// Weights quantized at load are in RAM on 2 MiB pages either way.
    /// </summary>
    public bool UseMmap { get; init; } = true;
}
