namespace FalconMamba.Model;

/// <summary>
/// The recurrent state of one sequence: per layer the last k−1 conv inputs and the SSM state h. Its size does not
/// depend on the context length (≈38 MiB in f32 for the 7B: SPEC.md §2.5, llama.cpp's k−1 conv layout).
/// </summary>
public sealed class MambaState
{
    /// <summary>Per layer: [k−1, E] the last k−1 pre-conv inputs x, oldest first (tap-major so the conv vectorizes over channels).</summary>
    public float[][] Conv { get; }
    /// <summary>Per layer: [E, N] SSM state h.</summary>
    public float[][] Ssm { get; }
    /// <summary>Tokens consumed so far.</summary>
    public long Position { get; internal set; }
    /// <summary>The config the state was made for.</summary>
    public MambaConfig Config { get; }

    /// <summary>A zero state (an empty sequence).</summary>
    public MambaState(MambaConfig config)
    {
        Config = config;
        int e = config.IntermediateSize;
        Conv = new float[config.NumHiddenLayers][];
        Ssm = new float[config.NumHiddenLayers][];
        for (int l = 0; l < config.NumHiddenLayers; l++)
        {
            Conv[l] = new float[(config.ConvKernel - 1) * e];
            Ssm[l] = new float[e * config.StateSize];
        }
    }

    MambaState(MambaState other)
    {
        Config = other.Config;
        Conv = other.Conv.Select(a => (float[])a.Clone()).ToArray();
        Ssm = other.Ssm.Select(a => (float[])a.Clone()).ToArray();
        Position = other.Position;
    }

    /// <summary>Size of the state in bytes: layers × E × (N + k − 1) × 4.</summary>
    public long SizeInBytes => SizeFor(Config);

    /// <summary>State bytes per sequence for a config.</summary>
    public static long SizeFor(MambaConfig c) => 4L * c.NumHiddenLayers * c.IntermediateSize * (c.StateSize + c.ConvKernel - 1);

    /// <summary>A deep copy: continuing from the clone gives the same logits as continuing from this state.</summary>
    public MambaState Clone() => new(this);

    /// <summary>Resets to the empty sequence.</summary>
    public void Reset()
    {
        foreach (var a in Conv) Array.Clear(a);
        foreach (var a in Ssm) Array.Clear(a);
        Position = 0;
    }

    /// <summary>Copies another state (same config) into this one.</summary>
    public void CopyFrom(MambaState other)
    {
        for (int l = 0; l < Conv.Length; l++)
        {
            other.Conv[l].CopyTo(Conv[l], 0);
            other.Ssm[l].CopyTo(Ssm[l], 0);
        }
        Position = other.Position;
    }
}
