namespace FalconMamba.Training;

/// <summary>
/// Arithmetic of the training forward/backward (train.json <c>precision</c>). Master weights, gradients and the AdamW
/// moments are f32 in both modes; only the operands of the Linear products change.
/// </summary>
public enum TrainPrecision
{
    /// <summary>Everything in f32 (the default; bit-identical to the trainer before the option existed).</summary>
    F32,

    /// <summary>
    /// Mixed precision in the spirit of PyTorch autocast(bfloat16): the products of in_proj, x_proj, dt_proj, out_proj
    /// and the lm_head (tied: the embedding matrix) take both operands rounded to bf16 (round to nearest even, see
    /// <see cref="Kernels.Bf16Round"/>) and accumulate in f32 — in the forward (x·Wᵀ) and in both backward products
    /// (dy·W and dyᵀ·x, with dy rounded too, as autocast's bf16 output receives a bf16 gradient). Everything else
    /// stays f32: the embedding lookup, RMS norms, conv, SiLU, softplus, the selective scan, the loss/softmax and the
    /// accumulation of gradients into the f32 gradient buffers (autocast's fp32 list: norms, softplus, exp, log_softmax,
    /// cross-entropy, sums). One difference from autocast: the product's f32 result is kept rather than rounded to bf16.
    /// </summary>
    Bf16,
}
