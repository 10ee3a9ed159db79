using FalconMamba.Kernels;
using FalconMamba.Kernels.Quantized;

namespace FalconMamba.Model;

/// <summary>
/// Where the weight matrices live while the model runs. By default they are used in place in the file mapping (fast
/// load, shared page cache, pages the OS can drop: a 14.5 GB checkpoint runs in 24 GiB). <see cref="CopyToLargePages"/>
/// instead copies every matrix into one <see cref="LargePageBuffer"/> (2 MiB pages) and releases the mappings, as
/// llama.cpp's <c>--no-mmap</c> reads the file into RAM, but on huge pages: a decode step then streams its weights
/// through 2 MiB pages whatever state the page cache was in (how much of a mapped file the kernel maps with 2 MiB
/// entries depends on how its pages were first read: 0.4 of 7.6 GB for one GGUF here, all of another).
/// </summary>
public static unsafe class WeightResidency
{
    /// <summary>Throws a clear error when <paramref name="needed"/> bytes of weights do not fit in <paramref name="available"/> (null: unknown, no check).</summary>
    internal static void EnsureFits(long needed, long? available)
    {
        if (available is long a && needed > a)
            throw new FalconMambaException($"--no-mmap: the weights need {needed / (double)(1L << 30):F2} GiB of RAM but only {a / (double)(1L << 30):F2} GiB is available; " +
                "leave out --no-mmap to use them in place from the file mapping");
    }

    /// <summary>MemAvailable from /proc/meminfo (memory the kernel can hand out, reclaimable page cache included); null elsewhere.</summary>
    static long? AvailableBytes()
    {
        try
        {
            if (!OperatingSystem.IsLinux()) return null;
            foreach (var line in File.ReadLines("/proc/meminfo"))
                if (line.StartsWith("MemAvailable:", StringComparison.Ordinal))
                    return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) * 1024;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException) { }
        return null;
    }

    /// <summary>
    /// Where the matrices are, for reports: "file mapping", "RAM, 2 MiB pages", or a mix ("RAM, 2 MiB pages: 193 of
    /// 257 matrices" after <c>--quantize</c> left some matrices in their stored type).
    /// </summary>
    public static string Describe(MambaWeights weights)
    {
        var distinct = weights.Matrices().Distinct().ToList();
        int large = distinct.Count(m => m is NativeWeightMatrix { Owner: LargePageBuffer });
        return large == 0 ? "file mapping" : large == distinct.Count ? "RAM, 2 MiB pages" : $"RAM, 2 MiB pages: {large} of {distinct.Count} matrices";
    }

    /// <summary>
    /// Copies the matrices of <paramref name="weights"/> into one 2 MiB-page buffer and returns weights over it; the
    /// originals' mappings are disposed when nothing points into them any more. f32 vectors (norms, A, D, conv) are
    /// managed arrays already and are shared.
    /// </summary>
    public static MambaWeights CopyToLargePages(MambaWeights weights, IProgress<double>? progress = null)
    {
        // distinct natively stored matrices (a tied lm_head is the embedding), each at a 4 KiB-aligned offset
        var all = weights.Matrices().ToList();
        // matrices quantized at load are on 2 MiB pages already (their own LargePageBuffer)
        var native = all.OfType<NativeWeightMatrix>().Where(m => m.Owner is not LargePageBuffer).Distinct().ToList();
        var offsets = new Dictionary<NativeWeightMatrix, long>();
        long total = 0;
        foreach (var m in native)
        {
            offsets[m] = total;
            total += (m.ByteSize + 4095) / 4096 * 4096;
        }
        if (total == 0) return weights;
        // anonymous memory cannot be dropped like mapped pages: refuse up front rather than let the copy page-fault
        // into the OOM killer
        EnsureFits(total, AvailableBytes());
        var arena = new LargePageBuffer(total);
        try
        {
            // 16 MiB pieces in parallel: the copy is bound by page faults (the kernel zeroes each 2 MiB page) and reads
            const long Piece = 16L << 20;
            var pieces = new List<(nint Src, nint Dst, long Len, bool Mapped)>();
            foreach (var m in native)
                for (long o = 0; o < m.ByteSize; o += Piece)
                    pieces.Add(((nint)(m.DataPointer + o), (nint)(arena.Pointer + offsets[m] + o), Math.Min(Piece, m.ByteSize - o),
                        m.Owner is Formats.Gguf.GgufFile or Formats.Safetensors.SafetensorsFile));
            int done = 0;
            Parallel.For(0, pieces.Count, i =>
            {
                var (src, dst, len, mapped) = pieces[i];
                Buffer.MemoryCopy((void*)src, (void*)dst, len, len);
                // the copied file pages leave RSS at once (they stay in the page cache), so the peak is the weights once
                if (mapped) Formats.MappedFile.ReleaseResident((byte*)src, len);
                int d = Interlocked.Increment(ref done);
                if (d % 16 == 0 || d == pieces.Count) progress?.Report((double)d / pieces.Count);
            });
        }
        catch
        {
            arena.Dispose();
            throw;
        }
        var copies = native.ToDictionary(m => m, m => QuantizedMatrix.Create(m.Type, arena.Pointer + offsets[m], m.Rows, m.Cols, arena));
        WeightMatrix C(WeightMatrix m) => m is NativeWeightMatrix n && copies.TryGetValue(n, out var c) ? c : m;
        // a matrix that is not natively stored (bitsandbytes 4-bit) may still point into a mapping: keep them then
        bool allCopied = all.All(m => m is NativeWeightMatrix);
        var owners = new List<IDisposable> { arena };
        if (allCopied) foreach (var o in weights.Owners) o.Dispose();
        else owners.AddRange(weights.Owners);
        return weights.WithMatrices(C(weights.Embedding), C(weights.LmHead), C, owners);   // a tied head maps to the same copy
    }
}
