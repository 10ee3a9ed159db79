using System.Diagnostics;
using FalconMamba.Kernels;

namespace FalconMamba.Bench;

/// <summary>
/// `kernels [--threads N]`: the machine's read bandwidth, then the decode product (DotRows, GB/s of weights) and
/// the tiled prefill product (MatMulRows, GFLOP/s) on a 7B-sized in_proj [8192, 4096] in bf16, f16 and f32.
/// </summary>
static class KernelBench
{
    public static void Run(int threads, int rows, int cols, int T)
    {
        using var pool = new WorkerPool(threads);
        var bw = MemoryBandwidth.Measure(pool);
        Console.WriteLine($"read bandwidth ({threads} threads, {bw.BufferBytes >> 20} MiB): best {bw.BestBytesPerSecond / 1e9:F2} GB/s, median {bw.MedianBytesPerSecond / 1e9:F2} GB/s");
        // one pool round trip with no work: what each of a decode step's ~4 products per layer pays for fan-out/join
        var empty = new Empty();
        for (int i = 0; i < 1000; i++) pool.For(threads, empty);
        var trips = new List<double>();
        for (int k = 0; k < 5; k++)
        {
            long t0 = Stopwatch.GetTimestamp();
            for (int i = 0; i < 2000; i++) pool.For(threads, empty);
            trips.Add(Stopwatch.GetElapsedTime(t0).TotalMicroseconds / 2000);
        }
        Console.WriteLine($"pool round trip ({threads} threads, empty body): median {Median(trips):F2} µs");
        var rng = new Random(1);
        var x = new float[T * cols];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() - 0.5);
        var y = new float[T * rows];
        WeightMatrix? bf16 = null;
        foreach (var type in (Environment.GetEnvironmentVariable("KERNEL_TYPES") ?? "BF16,F16,F32,Q8_0,Q4_0,Q4_K,Q6_K").Split(','))
        {
            if (type.StartsWith('Q') && bf16 is null) bf16 = new BF16Matrix(Enumerable.Range(0, rows * cols).Select(i => (ushort)(0x3C00 + (i * 7919 % 255))).ToArray(), rows, cols);
            WeightMatrix w = type switch
            {
                // quantized types (Kernels/Quantized, the gguf branch) from the bf16 matrix; the model runs them with
                // pre-quantized activations (MatMulPrepared), this bench with their DotRows / MatMulRows
                "Q8_0" or "Q4_0" or "Q4_K" or "Q6_K" => FalconMamba.Kernels.Quantized.QuantizedMatrix.Quantize(Enum.Parse<TensorType>(type), bf16!),
                "BF16" => new BF16Matrix(Enumerable.Range(0, rows * cols).Select(i => (ushort)(0x3C00 + (i * 7919 % 255))).ToArray(), rows, cols),
                "F16" => new F16Matrix(Enumerable.Range(0, rows * cols).Select(i => (Half)((i * 7919 % 255) / 512.0)).ToArray(), rows, cols),
                _ => new F32Matrix(Enumerable.Range(0, rows * cols).Select(i => (i * 7919 % 255) / 512f).ToArray(), rows, cols),
            };
            if (type == "BF16") bf16 = w;
            if (Environment.GetEnvironmentVariable("KERNEL_PAGES") is "small" or "huge") w = Rehome(w, huge: Environment.GetEnvironmentVariable("KERNEL_PAGES") == "huge");
            var job = new Job(w, x, y, threads, NativeWeightMatrix.RowBlock * cols);
            var dec = new List<double>();
            job.T = 1;
            for (int i = 0; i < 12; i++)
            {
                long t0 = Stopwatch.GetTimestamp();
                pool.For(rows, job, 16);
                dec.Add(w.ByteSize / Stopwatch.GetElapsedTime(t0).TotalSeconds / 1e9);
            }
            job.T = T;
            var pre = new List<double>();
            for (int i = 0; i < 4; i++)
            {
                long t0 = Stopwatch.GetTimestamp();
                pool.For(rows, job, NativeWeightMatrix.RowBlock);
                pre.Add(2.0 * rows * cols * T / Stopwatch.GetElapsedTime(t0).TotalSeconds / 1e9);
            }
            Console.WriteLine($"{type} [{rows}x{cols}] decode DotRows: median {Median(dec.Skip(2)):F2} GB/s ({Median(dec.Skip(2)) * 1e9 / bw.BestBytesPerSecond:P0} of best bw) | prefill T={T} MatMulRows: median {Median(pre.Skip(1)):F1} GFLOP/s");
        }
    }

    /// <summary>
    /// KERNEL_PAGES=huge|small: the same bytes copied into a <see cref="LargePageBuffer"/> (2 MiB pages) or a managed
    /// array (4 KiB pages), to separate the kernel's speed from the page size the weights sit on.
    /// </summary>
    static unsafe WeightMatrix Rehome(WeightMatrix w, bool huge)
    {
        byte* src = w switch
        {
            BF16Matrix b => (byte*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref System.Runtime.InteropServices.MemoryMarshal.GetReference(b.Row(0))),
            F16Matrix f => (byte*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref System.Runtime.InteropServices.MemoryMarshal.GetReference(f.Row(0))),
            F32Matrix f => (byte*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref System.Runtime.InteropServices.MemoryMarshal.GetReference(f.Row(0))),
            FalconMamba.Kernels.Quantized.QuantizedMatrix q => (byte*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref System.Runtime.InteropServices.MemoryMarshal.GetReference(q.Row(0))),
            _ => throw new NotSupportedException(w.GetType().Name),
        };
        if (huge)
        {
            var buf = new LargePageBuffer(w.ByteSize);
            Buffer.MemoryCopy(src, buf.Pointer, w.ByteSize, w.ByteSize);
            return FalconMamba.Kernels.Quantized.QuantizedMatrix.Create(w.Type, buf.Pointer, w.Rows, w.Cols, buf);
        }
        var bytes = new byte[w.ByteSize];
        fixed (byte* d = bytes) Buffer.MemoryCopy(src, d, w.ByteSize, w.ByteSize);
        return FalconMamba.Kernels.Quantized.QuantizedMatrix.Create(w.Type, bytes, w.Rows, w.Cols);
    }

    static double Median(IEnumerable<double> v) { var s = v.Order().ToArray(); return s[s.Length / 2]; }

    sealed class Empty : IParallelBody { public void Invoke(int start, int end, int worker) { } }

    sealed class Job(WeightMatrix w, float[] x, float[] y, int workers, int scratch) : IParallelBody
    {
        readonly float[][] _scratch = Enumerable.Range(0, workers).Select(_ => new float[scratch]).ToArray();
        public int T;
        // quantized types run as the model runs them: activations prepared once per product, MatMulPrepared per worker
        readonly FalconMamba.Kernels.Quantized.PreparedActivations _a1 = Prepare(w, x, 1), _aT = Prepare(w, x, 64);
        static FalconMamba.Kernels.Quantized.PreparedActivations Prepare(WeightMatrix w, float[] x, int t)
        {
            var a = new FalconMamba.Kernels.Quantized.PreparedActivations();
            if (w.PreferredActivations != FalconMamba.Kernels.Quantized.ActivationFormat.F32 && x.Length >= t * w.Cols) a.Prepare(w.PreferredActivations, x.AsSpan(0, t * w.Cols), t, w.Cols);
            return a;
        }
        public void Invoke(int start, int end, int worker)
        {
            if (w.PreferredActivations != FalconMamba.Kernels.Quantized.ActivationFormat.F32 && (T == 1 || T == 64))
                w.MatMulPrepared(T == 1 ? _a1 : _aT, y.AsSpan(0, T * w.Rows), start, end);
            else if (T == 1) w.DotRows(x.AsSpan(0, w.Cols), y.AsSpan(start, end - start), start, end);
            else w.MatMulRows(x.AsSpan(0, T * w.Cols), T, y.AsSpan(0, T * w.Rows), start, end, _scratch[worker]);
        }
    }
}
