using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace FalconMamba.Kernels;

/// <summary>Dot products of an f32 activation vector with a weight row in each storage type.</summary>
public static unsafe class Dot
{
    /// <summary>Σ a[i]·b[i] in f32 (TensorPrimitives vectorizes with FMA).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float F32(ReadOnlySpan<float> a, ReadOnlySpan<float> b) => TensorPrimitives.Dot(a, b);

    /// <summary>Scalar reference for <see cref="BF16"/>: bf16 → f32 is the 16 bits placed high (SPEC.md §3.3).</summary>
    public static float BF16Scalar(ReadOnlySpan<ushort> w, ReadOnlySpan<float> x)
    {
        float s = 0;
        for (int i = 0; i < x.Length; i++) s += BitConverter.Int32BitsToSingle(w[i] << 16) * x[i];
        return s;
    }

    /// <summary>Σ bf16(w[i])·x[i], widening 16 bf16 values at a time (shift into the high half) and FMA.</summary>
    public static float BF16(ReadOnlySpan<ushort> w, ReadOnlySpan<float> x)
    {
        int n = x.Length, i = 0;
        float sum = 0;
        fixed (ushort* pw = w)
        fixed (float* px = x)
        {
            if (Vector512.IsHardwareAccelerated && n >= 32)
            {
                Vector512<float> acc0 = Vector512<float>.Zero, acc1 = Vector512<float>.Zero;
                for (; i + 32 <= n; i += 32)
                {
                    var raw = Vector512.Load(pw + i);                       // 32 × u16
                    var (lo, hi) = Vector512.Widen(raw);                      // 2 × 16 × u32
                    var w0 = Vector512.ShiftLeft(lo, 16).AsSingle();
                    var w1 = Vector512.ShiftLeft(hi, 16).AsSingle();
                    acc0 = Vector512.FusedMultiplyAdd(w0, Vector512.Load(px + i), acc0);
                    acc1 = Vector512.FusedMultiplyAdd(w1, Vector512.Load(px + i + 16), acc1);
                }
                sum = Vector512.Sum(acc0 + acc1);
            }
            else if (Vector256.IsHardwareAccelerated && n >= 16)
            {
                Vector256<float> acc0 = Vector256<float>.Zero, acc1 = Vector256<float>.Zero;
                for (; i + 16 <= n; i += 16)
                {
                    var raw = Vector256.Load(pw + i);
                    var (lo, hi) = Vector256.Widen(raw);
                    var w0 = Vector256.ShiftLeft(lo, 16).AsSingle();
                    var w1 = Vector256.ShiftLeft(hi, 16).AsSingle();
                    acc0 = Vector256.FusedMultiplyAdd(w0, Vector256.Load(px + i), acc0);
                    acc1 = Vector256.FusedMultiplyAdd(w1, Vector256.Load(px + i + 8), acc1);
                }
                sum = Vector256.Sum(acc0 + acc1);
            }
            for (; i < n; i++) sum += BitConverter.Int32BitsToSingle(pw[i] << 16) * px[i];
        }
        return sum;
    }

    /// <summary>Scalar reference for <see cref="F16"/>.</summary>
    public static float F16Scalar(ReadOnlySpan<Half> w, ReadOnlySpan<float> x)
    {
        float s = 0;
        for (int i = 0; i < x.Length; i++) s += (float)w[i] * x[i];
        return s;
    }

    /// <summary>Σ f16(w[i])·x[i]: converts blocks to f32 with TensorPrimitives then a vector dot.</summary>
    public static float F16(ReadOnlySpan<Half> w, ReadOnlySpan<float> x)
    {
        const int Block = 256;
        Span<float> tmp = stackalloc float[Block];
        float sum = 0;
        for (int i = 0; i < x.Length; i += Block)
        {
            int len = Math.Min(Block, x.Length - i);
            TensorPrimitives.ConvertToSingle(w.Slice(i, len), tmp[..len]);
            sum += TensorPrimitives.Dot(tmp[..len], x.Slice(i, len));
        }
        return sum;
    }

    /// <summary>Widens bf16 to f32 (vectorized shift).</summary>
    public static void BF16ToF32(ReadOnlySpan<ushort> src, Span<float> dst)
    {
        var d = MemoryMarshal.Cast<float, uint>(dst);
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            fixed (ushort* ps = src)
            fixed (uint* pd = d)
                for (; i + 16 <= src.Length; i += 16)
                {
                    var (lo, hi) = Vector256.Widen(Vector256.Load(ps + i));
                    Vector256.ShiftLeft(lo, 16).Store(pd + i);
                    Vector256.ShiftLeft(hi, 16).Store(pd + i + 8);
                }
        }
        for (; i < src.Length; i++) d[i] = (uint)src[i] << 16;
    }
}
