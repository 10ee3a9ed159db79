using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using FalconMamba.Kernels;

namespace FalconMamba.Bench;

/// <summary>
/// `decode-layout [--cols 768,4096,8192] [--mib 512] [--threads 1]`: how the decode kernel should walk a weight
/// matrix (the evidence for <c>Dot.OneRowMaxCols</c>). A bf16 matrix larger than the last-level cache, of the given
/// width, is multiplied by a vector several ways: the library's kernel (<see cref="BF16Matrix.DotRows"/>), one row
/// at a time (one 8-wide FMA chain), 2 and 8 adjacent rows at once sharing each activation load, one row with a
/// 16-wide (AVX-512) chain, and 8 rows taken from 8 far-apart places of the thread's range (8 long sequential
/// streams), and 8 rows with software prefetch of the next 8 (slower: 17 vs 21 GB/s at 4096 and 8192 columns, one
/// thread, 11:10 UTC). GB/s of weights, median of 7 passes, next to the machine's streaming read bandwidth.
/// Session 4 added (with LAYOUT_PAGES=huge the matrix sits on 2 MiB pages, as a mapped GGUF usually does): one row
/// with four FMA chains (a different summation order, one stream), two far-apart rows (the short-row kernel), and the
/// 8 rows repacked into one interleaved stream as llama.cpp repacks Q4_0: on one thread, 4096 columns, the library's
/// 8-row kernel 19–22 GB/s, four chains 12–18, two far-apart 11–12, the packed stream 9 (13:20–14:10 UTC). Prefetching
/// each row 512 B or 2 KiB ahead halved the 8-row kernel (not kept).
/// </summary>
static unsafe class DecodeLayoutBench
{
    public static void Run(int threads, int[] colsList, int mib)
    {
        using var pool = new WorkerPool(threads);
        var bw = MemoryBandwidth.Measure(pool);
        Console.WriteLine($"read bandwidth ({threads} threads): best {bw.BestBytesPerSecond / 1e9:F2} GB/s, median {bw.MedianBytesPerSecond / 1e9:F2} GB/s");
        foreach (int cols in colsList)
        {
            int rows = (int)((long)mib * 1024 * 1024 / 2 / cols) / 8 * 8;
            var data = new ushort[(long)rows * cols];
            var rng = new Random(1);
            for (long i = 0; i < data.LongLength; i++) data[i] = (ushort)(0x3C00 + rng.Next(255));
            BF16Matrix m;
            if (Environment.GetEnvironmentVariable("LAYOUT_PAGES") == "huge")
            {
                // the same bytes on 2 MiB pages, as a mapped GGUF usually is (see LargePageBuffer)
                var buf = new LargePageBuffer(data.LongLength * 2);
                fixed (ushort* d = data) Buffer.MemoryCopy(d, buf.Pointer, buf.Length, buf.Length);
                m = new BF16Matrix(buf.Pointer, rows, cols, buf);
            }
            else m = new BF16Matrix(data, rows, cols);
            // the same rows repacked 8 at a time, interleaved in groups of 8 columns: [r0 c0..7][r1 c0..7]..[r7 c0..7][r0 c8..15]..,
            // so the 8-row kernel reads one sequential stream instead of 8
            using var packed = new LargePageBuffer(data.LongLength * 2);
            {
                ushort* q = (ushort*)packed.Pointer;
                for (long g = 0; g < rows / 8; g++)
                    for (int c = 0; c < cols; c += 8)
                        for (int j = 0; j < 8; j++)
                            for (int k = 0; k < 8; k++)
                                q[g * 8 * cols + (long)c * 8 + j * 8 + k] = data[(g * 8 + j) * cols + c + k];
            }
            var x = new float[cols];
            for (int i = 0; i < cols; i++) x[i] = (float)(rng.NextDouble() - 0.5);
            var y = new float[rows];
            foreach (var (name, rowsAtOnce) in new[] { ("library kernel", 0), ("1 row at a time", 1), ("2 rows interleaved", 2), ("8 rows interleaved", 8), ("1 row, zmm chain", 16), ("8 far-apart streams", 32), ("1 row, 2048-col blocks", 40), ("1 row, 1024-col blocks", 41), ("8 rows + prefetch next 8", 9), ("1 row, 4 chains (not canonical)", 4), ("2 far-apart streams", 33), ("8 rows, one packed stream", 60) })
            {
                var job = new Job(m, x, y, rowsAtOnce) { Packed = (ushort*)packed.Pointer };
                var gbs = new List<double>();
                for (int pass = 0; pass < 8; pass++)
                {
                    long t0 = Stopwatch.GetTimestamp();
                    pool.For(rows, job, 16);
                    if (pass > 0) gbs.Add(m.ByteSize / Stopwatch.GetElapsedTime(t0).TotalSeconds / 1e9);
                }
                gbs.Sort();
                Console.WriteLine($"cols {cols,5}  {name,-20} {gbs[gbs.Count / 2],6:F2} GB/s (min {gbs[0]:F2}, max {gbs[^1]:F2}), {threads} thread(s), {m.ByteSize >> 20} MiB");
            }
        }
    }

    sealed class Job(BF16Matrix m, float[] x, float[] y, int rowsAtOnce) : IParallelBody
    {
        public ushort* Packed;
        public void Invoke(int start, int end, int worker)
        {
            if (rowsAtOnce == 0) { m.DotRows(x, y.AsSpan(start, end - start), start, end); return; }
            fixed (ushort* w = m.Row(0))
            fixed (float* px = x)
            fixed (float* py = y)
            {
                int r = start;
                if (rowsAtOnce >= 40)
                {
                    RowsColumnBlocked(w, m.Cols, px, py, start, end, rowsAtOnce == 40 ? 2048 : 1024);
                    return;
                }
                if (rowsAtOnce == 33)
                {
                    int half = (end - start) / 2;
                    for (int j = 0; j < half; j++) Rows2Apart(w + (long)(start + j) * m.Cols, w + (long)(start + half + j) * m.Cols, m.Cols, px, py + start + j, py + start + half + j);
                    return;
                }
                if (rowsAtOnce == 60)
                {
                    for (r = start / 8 * 8; r + 8 <= end; r += 8) Rows8Packed(Packed + (long)r * m.Cols, m.Cols, px, py + r);
                    return;
                }
                if (rowsAtOnce == 4) { for (; r < end; r++) py[r] = Row256x4(w + (long)r * m.Cols, px, m.Cols); return; }
                if (rowsAtOnce >= 32)
                {
                    int g = 8;
                    int S = (end - start) / g;
                    var ptr = stackalloc ushort*[8];
                    for (int j = 0; j < S; j++)
                    {
                        for (int k = 0; k < 8; k++) ptr[k] = w + (long)(start + (k % g) * S + j) * m.Cols;
                        RowsP(ptr, m.Cols, px, py + start + j, S);
                    }
                    return;
                }
                if (rowsAtOnce == 1) { for (; r < end; r++) py[r] = Row256(w + (long)r * m.Cols, px, m.Cols); return; }
                if (rowsAtOnce == 16) { for (; r < end; r++) py[r] = Row512(w + (long)r * m.Cols, px, m.Cols); return; }
                for (; r + rowsAtOnce <= end; r += rowsAtOnce)
                    if (rowsAtOnce == 8) Rows8(w + (long)r * m.Cols, m.Cols, px, py + r);
                    else if (rowsAtOnce == 9) Rows8Prefetch(w + (long)r * m.Cols, m.Cols, px, py + r, r + 16 <= end);
                    else Rows2(w + (long)r * m.Cols, m.Cols, px, py + r);
                if (r < end) m.DotRows(x, y.AsSpan(r, end - r), r, end);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> Load8(ushort* p) => Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32(p), 16).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static float Row512(ushort* w, float* px, int n)
    {
        var a = Vector512<float>.Zero;
        int i = 0;
        for (; i + 16 <= n; i += 16)
            a = Vector512.FusedMultiplyAdd(Avx512F.ShiftLeftLogical(Avx512F.ConvertToVector512Int32(Vector256.Load(w + i)), 16).AsSingle(), Vector512.Load(px + i), a);
        return Vector512.Sum(a);
    }

    /// <summary>
    /// One FMA chain per row (the canonical order), but the columns walked in blocks of <paramref name="kb"/> for a group
    /// of 64 rows at a time, each row's accumulator carried across blocks: the block of x (8 KiB for 2048) stays in L1
    /// while the rows' 4 KiB segments stream through.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void RowsColumnBlocked(ushort* w, int n, float* px, float* y, int start, int end, int kb)
    {
        const int G = 64;
        var acc = stackalloc Vector256<float>[G];
        for (int r0 = start; r0 < end; r0 += G)
        {
            int g = Math.Min(G, end - r0);
            for (int j = 0; j < g; j++) acc[j] = Vector256<float>.Zero;
            for (int k0 = 0; k0 < n; k0 += kb)
            {
                int k1 = Math.Min(n, k0 + kb) & ~7;
                for (int j = 0; j < g; j++)
                {
                    ushort* row = w + (long)(r0 + j) * n;
                    var a = acc[j];
                    for (int k = k0; k < k1; k += 8) a = Vector256.FusedMultiplyAdd(Load8(row + k), Vector256.Load(px + k), a);
                    acc[j] = a;
                }
            }
            for (int j = 0; j < g; j++) y[r0 + j] = Vector256.Sum(acc[j]);
        }
    }

    /// <summary>Rows8 over the packed layout: the same per-row arithmetic, one sequential stream of 8 × 16 bytes per step.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Rows8Packed(ushort* w, int n, float* px, float* y)
    {
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        for (int i = 0; i + 8 <= n; i += 8)
        {
            var xv = Vector256.Load(px + i);
            ushort* p = w + 8 * i;
            a0 = Vector256.FusedMultiplyAdd(Load8(p), xv, a0);
            a1 = Vector256.FusedMultiplyAdd(Load8(p + 8), xv, a1);
            a2 = Vector256.FusedMultiplyAdd(Load8(p + 16), xv, a2);
            a3 = Vector256.FusedMultiplyAdd(Load8(p + 24), xv, a3);
            a4 = Vector256.FusedMultiplyAdd(Load8(p + 32), xv, a4);
            a5 = Vector256.FusedMultiplyAdd(Load8(p + 40), xv, a5);
            a6 = Vector256.FusedMultiplyAdd(Load8(p + 48), xv, a6);
            a7 = Vector256.FusedMultiplyAdd(Load8(p + 56), xv, a7);
        }
        y[0] = Vector256.Sum(a0); y[1] = Vector256.Sum(a1); y[2] = Vector256.Sum(a2); y[3] = Vector256.Sum(a3);
        y[4] = Vector256.Sum(a4); y[5] = Vector256.Sum(a5); y[6] = Vector256.Sum(a6); y[7] = Vector256.Sum(a7);
    }

    /// <summary>One row with four FMA chains (a different summation order from the library's): one stream, no latency bound.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static float Row256x4(ushort* w, float* px, int n)
    {
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        for (int i = 0; i + 32 <= n; i += 32)
        {
            a0 = Vector256.FusedMultiplyAdd(Load8(w + i), Vector256.Load(px + i), a0);
            a1 = Vector256.FusedMultiplyAdd(Load8(w + i + 8), Vector256.Load(px + i + 8), a1);
            a2 = Vector256.FusedMultiplyAdd(Load8(w + i + 16), Vector256.Load(px + i + 16), a2);
            a3 = Vector256.FusedMultiplyAdd(Load8(w + i + 24), Vector256.Load(px + i + 24), a3);
        }
        return Vector256.Sum((a0 + a1) + (a2 + a3));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Rows2Apart(ushort* w0, ushort* w1, int n, float* px, float* y0, float* y1)
    {
        Vector256<float> a0 = default, a1 = default;
        for (int i = 0; i + 8 <= n; i += 8)
        {
            var xv = Vector256.Load(px + i);
            a0 = Vector256.FusedMultiplyAdd(Load8(w0 + i), xv, a0);
            a1 = Vector256.FusedMultiplyAdd(Load8(w1 + i), xv, a1);
        }
        *y0 = Vector256.Sum(a0); *y1 = Vector256.Sum(a1);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static float Row256(ushort* w, float* px, int n)
    {
        var a = Vector256<float>.Zero;
        for (int i = 0; i + 8 <= n; i += 8) a = Vector256.FusedMultiplyAdd(Load8(w + i), Vector256.Load(px + i), a);
        return Vector256.Sum(a);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void RowsP(ushort** p, int n, float* px, float* y, int ys)
    {
        ushort* p0 = p[0], p1 = p[1], p2 = p[2], p3 = p[3], p4 = p[4], p5 = p[5], p6 = p[6], p7 = p[7];
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        for (int i = 0; i + 8 <= n; i += 8)
        {
            var xv = Vector256.Load(px + i);
            a0 = Vector256.FusedMultiplyAdd(Load8(p0 + i), xv, a0);
            a1 = Vector256.FusedMultiplyAdd(Load8(p1 + i), xv, a1);
            a2 = Vector256.FusedMultiplyAdd(Load8(p2 + i), xv, a2);
            a3 = Vector256.FusedMultiplyAdd(Load8(p3 + i), xv, a3);
            a4 = Vector256.FusedMultiplyAdd(Load8(p4 + i), xv, a4);
            a5 = Vector256.FusedMultiplyAdd(Load8(p5 + i), xv, a5);
            a6 = Vector256.FusedMultiplyAdd(Load8(p6 + i), xv, a6);
            a7 = Vector256.FusedMultiplyAdd(Load8(p7 + i), xv, a7);
        }
        y[0] = Vector256.Sum(a0); y[ys] = Vector256.Sum(a1); y[2 * ys] = Vector256.Sum(a2); y[3 * ys] = Vector256.Sum(a3);
        y[4 * ys] = Vector256.Sum(a4); y[5 * ys] = Vector256.Sum(a5); y[6 * ys] = Vector256.Sum(a6); y[7 * ys] = Vector256.Sum(a7);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Rows2(ushort* w, int n, float* px, float* y)
    {
        Vector256<float> a0 = default, a1 = default;
        for (int i = 0; i + 8 <= n; i += 8)
        {
            var xv = Vector256.Load(px + i);
            a0 = Vector256.FusedMultiplyAdd(Load8(w + i), xv, a0);
            a1 = Vector256.FusedMultiplyAdd(Load8(w + n + i), xv, a1);
        }
        y[0] = Vector256.Sum(a0); y[1] = Vector256.Sum(a1);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    /// <summary><see cref="Rows8"/> that prefetches, once per 64-byte step of its rows, the same line of the next 8 rows.</summary>
    static void Rows8Prefetch(ushort* w, int n, float* px, float* y, bool next)
    {
        long n1 = n;
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        ushort* q = next ? w + 8 * n1 : w;
        for (int i = 0; i + 8 <= n; i += 8)
        {
            var xv = Vector256.Load(px + i);
            ushort* p = w + i;
            if ((i & 31) == 0)
            {
                ushort* f = q + i;
                Sse.Prefetch0(f); Sse.Prefetch0(f + n1); Sse.Prefetch0(f + 2 * n1); Sse.Prefetch0(f + 3 * n1);
                Sse.Prefetch0(f + 4 * n1); Sse.Prefetch0(f + 5 * n1); Sse.Prefetch0(f + 6 * n1); Sse.Prefetch0(f + 7 * n1);
            }
            a0 = Vector256.FusedMultiplyAdd(Load8(p), xv, a0);
            a1 = Vector256.FusedMultiplyAdd(Load8(p + n1), xv, a1);
            a2 = Vector256.FusedMultiplyAdd(Load8(p + 2 * n1), xv, a2);
            a3 = Vector256.FusedMultiplyAdd(Load8(p + 3 * n1), xv, a3);
            a4 = Vector256.FusedMultiplyAdd(Load8(p + 4 * n1), xv, a4);
            a5 = Vector256.FusedMultiplyAdd(Load8(p + 5 * n1), xv, a5);
            a6 = Vector256.FusedMultiplyAdd(Load8(p + 6 * n1), xv, a6);
            a7 = Vector256.FusedMultiplyAdd(Load8(p + 7 * n1), xv, a7);
        }
        y[0] = Vector256.Sum(a0); y[1] = Vector256.Sum(a1); y[2] = Vector256.Sum(a2); y[3] = Vector256.Sum(a3);
        y[4] = Vector256.Sum(a4); y[5] = Vector256.Sum(a5); y[6] = Vector256.Sum(a6); y[7] = Vector256.Sum(a7);
    }

    static void Rows8(ushort* w, int n, float* px, float* y)
    {
        long n1 = n;
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        for (int i = 0; i + 8 <= n; i += 8)
        {
            var xv = Vector256.Load(px + i);
            ushort* p = w + i;
            a0 = Vector256.FusedMultiplyAdd(Load8(p), xv, a0);
            a1 = Vector256.FusedMultiplyAdd(Load8(p + n1), xv, a1);
            a2 = Vector256.FusedMultiplyAdd(Load8(p + 2 * n1), xv, a2);
            a3 = Vector256.FusedMultiplyAdd(Load8(p + 3 * n1), xv, a3);
            a4 = Vector256.FusedMultiplyAdd(Load8(p + 4 * n1), xv, a4);
            a5 = Vector256.FusedMultiplyAdd(Load8(p + 5 * n1), xv, a5);
            a6 = Vector256.FusedMultiplyAdd(Load8(p + 6 * n1), xv, a6);
            a7 = Vector256.FusedMultiplyAdd(Load8(p + 7 * n1), xv, a7);
        }
        y[0] = Vector256.Sum(a0); y[1] = Vector256.Sum(a1); y[2] = Vector256.Sum(a2); y[3] = Vector256.Sum(a3);
        y[4] = Vector256.Sum(a4); y[5] = Vector256.Sum(a5); y[6] = Vector256.Sum(a6); y[7] = Vector256.Sum(a7);
    }
}
