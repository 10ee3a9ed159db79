using System.Runtime.InteropServices;

namespace FalconMamba.Kernels;

/// <summary>
/// Native memory for weights that a decode step streams, on 2 MiB pages where the OS gives them.
/// Why: a managed array or <see cref="NativeMemory.AlignedAlloc"/> sits on 4 KiB pages here (Linux's transparent huge
/// pages are "madvise" by default), where the hardware prefetchers stop at every 4 KiB boundary and every page costs
/// a TLB walk. Reading 1 GiB on this 2-vCPU Zen 4 VM (4 interleaved pairs each, 13:15 UTC): one thread 23.0–24.6 GB/s
/// on 4 KiB pages against 29.1–30.1 GB/s on 2 MiB pages, two threads 25.5–31.2 against 30.0–34.8. A memory-mapped
/// GGUF or safetensors file already gets 2 MiB mappings from the page cache where the file system has large folios
/// (ext4 on Linux 6.18 here: FilePmdMapped ≈ the file's size), so this is for weights the engine makes itself
/// (<c>--quantize</c> at load) and for the bandwidth probe. On Linux: an anonymous mapping with
/// madvise(MADV_HUGEPAGE), 2 MiB-aligned; elsewhere, or if that fails, page-aligned native memory.
/// </summary>
public sealed unsafe class LargePageBuffer : IDisposable
{
    const long HugePage = 2L << 20;

    byte* _base;          // what was mapped or allocated (freed in Dispose)
    readonly long _mapped; // bytes mapped at _base; 0 when NativeMemory owns it

    /// <summary>Start of the buffer (2 MiB-aligned when <see cref="HugePagesAdvised"/>).</summary>
    public byte* Pointer { get; private set; }
    /// <summary>Usable length in bytes.</summary>
    public long Length { get; }
    /// <summary>True when the OS was asked for 2 MiB pages for this buffer (Linux madvise succeeded).</summary>
    public bool HugePagesAdvised { get; }

    /// <summary>Allocates <paramref name="bytes"/> bytes (contents unspecified until written; zero on Linux).</summary>
    public LargePageBuffer(long bytes)
    {
        if (bytes <= 0) throw new ArgumentOutOfRangeException(nameof(bytes), bytes, "buffer length must be positive");
        Length = bytes;
        if (OperatingSystem.IsLinux())
        {
            try
            {
                // map one huge page more than needed and start at the first 2 MiB boundary: only whole aligned
                // 2 MiB ranges can be backed by huge pages
                long size = (bytes + HugePage - 1) / HugePage * HugePage + HugePage;
                void* p = Libc.mmap(null, (nuint)size, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS, -1, 0);
                if (p != (void*)-1)
                {
                    _base = (byte*)p;
                    _mapped = size;
                    Pointer = (byte*)(((long)p + HugePage - 1) & ~(HugePage - 1));
                    HugePagesAdvised = Libc.madvise(Pointer, (nuint)(size - (Pointer - _base)), Libc.MADV_HUGEPAGE) == 0;
                    return;
                }
            }
            catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { }
        }
        _base = Pointer = (byte*)NativeMemory.AlignedAlloc((nuint)bytes, 4096);
    }

    /// <summary>The buffer as a span (at most 2 GiB; larger buffers are written through <see cref="Pointer"/>).</summary>
    public Span<byte> Span => new(Pointer, (int)Math.Min(Length, int.MaxValue));

    /// <summary>Frees the memory; matrices over it must no longer be used.</summary>
    public void Dispose()
    {
        Free();
        GC.SuppressFinalize(this);
    }

    /// <summary>Frees the memory if nothing disposed it (matrices hold the buffer as their owner).</summary>
    ~LargePageBuffer() => Free();

    void Free()
    {
        byte* b = _base;
        if (b == null) return;
        _base = null;
        Pointer = null;
        if (_mapped > 0) Libc.munmap(b, (nuint)_mapped);
        else NativeMemory.AlignedFree(b);
    }
}
