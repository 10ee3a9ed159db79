using FalconMamba.Kernels;

namespace FalconMamba.Model;

/// <summary>Quantize-at-load of the linear weights (A_log, D, conv, biases and norms stay f32).</summary>
public static class WeightQuantizer
{
    /// <summary>Returns weights whose matrices are converted to <paramref name="type"/>.</summary>
    public static MambaWeights Apply(MambaWeights weights, TensorType type) =>
        throw new FalconMambaException($"--quantize {type}: quantization at load is not available in this build yet");
}
