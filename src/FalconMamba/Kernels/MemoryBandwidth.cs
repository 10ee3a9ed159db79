using System.Diagnostics;
using System.Runtime.Intrinsics;

namespace FalconMamba.Kernels;

/// <summary>
/// Measures the machine's streaming read bandwidth the way a decode step reads weights: every thread of a
/// <see cref="WorkerPool"/> sums its contiguous slice of one large buffer (far larger than the last-level cache)
/// with vector loads. Decode is bound by this number: tokens/s ≤ bandwidth / bytes of weights per token.
/// </summary>
public static unsafe class MemoryBandwidth
{
    /// <summary>Result of <see cref="Measure"/>: bytes/s of each pass (the first, warm-up pass excluded).</summary>
    public sealed record Result(long BufferBytes, int Threads, double[] PassBytesPerSecond)
    {
        /// <summary>The best pass: the bound a kernel can approach.</summary>
        public double BestBytesPerSecond => PassBytesPerSecond.Max();
        /// <summary>The median pass.</summary>
        public double MedianBytesPerSecond
        {
            get { var s = PassBytesPerSecond.Order().ToArray(); return s[s.Length / 2]; }
        }
    }

    /// <summary>
    /// Reads a buffer of <paramref name="bytes"/> (default 1 GiB) <paramref name="passes"/> times with
    /// <paramref name="pool"/>'s threads after one warm-up pass. The buffer is written first so its pages exist.
    /// </summary>
    public static Result Measure(WorkerPool pool, long bytes = 1L << 30, int passes = 5)
    {
        if (bytes < 1 << 20) throw new ArgumentOutOfRangeException(nameof(bytes), bytes, "buffer must be at least 1 MiB");
        if (passes < 1) throw new ArgumentOutOfRangeException(nameof(passes), passes, "need at least one pass");
        long floats = bytes / 4 / 64 * 64;
        // on 2 MiB pages, as mapped weights usually are: on 4 KiB pages the same read is 20-25 % slower on one thread
        // (LargePageBuffer), which would understate the bound
        using var buffer = new LargePageBuffer(floats * 4);
        float* buf = (float*)buffer.Pointer;
        new Span<byte>(buf, (int)Math.Min(int.MaxValue, floats * 4)).Fill(1);
        for (long i = int.MaxValue / 4; i < floats; i++) buf[i] = 1f;
        var job = new SumJob(buf, floats, pool.ThreadCount);
        var rates = new double[passes];
        for (int p = -1; p < passes; p++)
        {
            long t0 = Stopwatch.GetTimestamp();
            pool.For(pool.ThreadCount, job);
            double s = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            if (p >= 0) rates[p] = floats * 4 / s;
        }
        if (job.Total() == 12345f) Console.Error.Write(""); // keep the sums observable
        return new Result(floats * 4, pool.ThreadCount, rates);
    }

    sealed class SumJob(float* buf, long floats, int threads) : IParallelBody
    {
        readonly float[] _sums = new float[threads];
        public float Total() => _sums.Sum();

        public void Invoke(int start, int end, int worker)
        {
            for (int part = start; part < end; part++)
            {
                long per = floats / threads / 32 * 32;
                long b = part * per, e = part == threads - 1 ? floats : b + per;
                _sums[part] = Sum(buf + b, e - b);
            }
        }

        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
        static float Sum(float* p, long n)
        {
            // four independent accumulators so the adds do not serialise; n is a multiple of 32
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (long i = 0; i + 32 <= n; i += 32)
            {
                a0 += Vector256.Load(p + i);
                a1 += Vector256.Load(p + i + 8);
                a2 += Vector256.Load(p + i + 16);
                a3 += Vector256.Load(p + i + 24);
            }
            return Vector256.Sum(a0 + a1 + a2 + a3);
        }
    }
}
