using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using FalconMamba.Formats.Safetensors;

namespace FalconMamba.Kernels;

/// <summary>
/// Rounds f32 values to the nearest bf16 value and keeps them as f32 (the low 16 bits zero): what
/// <c>tensor.to(torch.bfloat16).float()</c> gives. bf16 keeps 8 significant bits (7 stored + the implicit one): an ulp is
/// 2⁻⁷ relative at worst (torch.finfo(torch.bfloat16).eps), so the relative rounding error is at most u = 2⁻⁸. Round to nearest, ties to even (add 0x7FFF plus the lowest kept bit, then
/// truncate); NaN stays a (quiet) NaN with its sign; ±Inf stays ±Inf; finite values above the largest bf16
/// (≈3.39e38) round to ±Inf, as in torch. Used by bf16 mixed-precision training (<see cref="Training.MambaBackprop.Precision"/>).
/// </summary>
public static class Bf16Round
{
    /// <summary>Scalar reference: the f32 value of the bf16 nearest to <paramref name="v"/> (<see cref="BFloat16.FromSingle"/>).</summary>
    public static float Scalar(float v) => BFloat16.ToSingle(BFloat16.FromSingle(v));

    /// <summary>Scalar reference over a span: dst[i] = <see cref="Scalar(float)"/>(src[i]). dst may alias src.</summary>
    public static void Scalar(ReadOnlySpan<float> src, Span<float> dst)
    {
        if (dst.Length < src.Length) throw new ArgumentException("bf16 round: destination shorter than source");
        for (int i = 0; i < src.Length; i++) dst[i] = Scalar(src[i]);
    }

    /// <summary>dst[i] = bf16-rounded src[i], Vector512 / Vector256 integer ops with the scalar loop as tail. dst may alias src.</summary>
    public static void Round(ReadOnlySpan<float> src, Span<float> dst)
    {
        if (dst.Length < src.Length) throw new ArgumentException("bf16 round: destination shorter than source");
        var s = MemoryMarshal.Cast<float, uint>(src);
        var d = MemoryMarshal.Cast<float, uint>(dst);
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; i + 16 <= s.Length; i += 16) Round(Vector512.Create(s.Slice(i, 16))).CopyTo(d.Slice(i, 16));
        if (Vector256.IsHardwareAccelerated)
            for (; i + 8 <= s.Length; i += 8) Round(Vector256.Create(s.Slice(i, 8))).CopyTo(d.Slice(i, 8));
        for (; i < s.Length; i++) dst[i] = Scalar(src[i]);
    }

    // bits + 0x7FFF + lsb, high half kept; a NaN (exponent all ones, mantissa ≠ 0) is truncated with the quiet bit set
    // instead, so rounding can never carry it into Inf or change its sign.
    static Vector512<uint> Round(Vector512<uint> bits)
    {
        var lsb = Vector512.ShiftRightLogical(bits, 16) & Vector512.Create(1u);
        var rounded = (bits + Vector512.Create(0x7FFFu) + lsb) & Vector512.Create(0xFFFF0000u);
        var isNan = Vector512.GreaterThan(bits & Vector512.Create(0x7FFFFFFFu), Vector512.Create(0x7F800000u));
        var nan = (bits | Vector512.Create(0x00400000u)) & Vector512.Create(0xFFFF0000u);
        return Vector512.ConditionalSelect(isNan, nan, rounded);
    }

    static Vector256<uint> Round(Vector256<uint> bits)
    {
        var lsb = Vector256.ShiftRightLogical(bits, 16) & Vector256.Create(1u);
        var rounded = (bits + Vector256.Create(0x7FFFu) + lsb) & Vector256.Create(0xFFFF0000u);
        var isNan = Vector256.GreaterThan(bits & Vector256.Create(0x7FFFFFFFu), Vector256.Create(0x7F800000u));
        var nan = (bits | Vector256.Create(0x00400000u)) & Vector256.Create(0xFFFF0000u);
        return Vector256.ConditionalSelect(isNan, nan, rounded);
    }
}
