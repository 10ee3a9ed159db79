using System.IO.MemoryMappedFiles;

namespace FalconMamba.Formats;

/// <summary>
/// A read-only memory mapping of a whole file. Weights are used in place from the mapping (the OS pages them in on
/// demand and can drop them under pressure), so a 14.5 GB bf16 checkpoint runs in 24 GiB of RAM.
/// </summary>
public sealed unsafe class MappedFile : IDisposable
{
    readonly MemoryMappedFile? _mmf;
    readonly MemoryMappedViewAccessor? _view;
    byte* _ptr;

    /// <summary>The file path.</summary>
    public string Path { get; }
    /// <summary>File length in bytes.</summary>
    public long Length { get; }
    /// <summary>Base address of the mapping (null for an empty file).</summary>
    public byte* Pointer => _ptr;

    /// <summary>Maps <paramref name="path"/> read-only.</summary>
    public MappedFile(string path)
    {
        Path = path;
        if (!File.Exists(path)) throw new ModelFormatException($"missing file: '{path}' does not exist");
        Length = new FileInfo(path).Length;
        if (Length == 0) return;
        try
        {
            _mmf = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
            _view = _mmf.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            _view.SafeMemoryMappedViewHandle.AcquirePointer(ref _ptr);
            _ptr += _view.PointerOffset;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ModelFormatException($"{path}: cannot map file ({e.Message})", e);
        }
    }

    /// <summary>A span over [offset, offset+length) after a bounds check.</summary>
    public ReadOnlySpan<byte> Span(long offset, int length)
    {
        if (offset < 0 || length < 0 || offset + length > Length)
            throw new ModelFormatException($"{Path}: read of {length} bytes at offset {offset} runs past the end of the file ({Length} bytes)");
        return new ReadOnlySpan<byte>(_ptr + offset, length);
    }

    /// <summary>
    /// Drops this process's page-table entries for [p, p+length) of a file mapping (Linux madvise MADV_DONTNEED): the
    /// data stays in the page cache and comes back on the next read, but no longer counts in RSS. Used after copying
    /// weights out of a mapping, so that the copy does not hold twice the weights resident. Must only be given memory
    /// of a file mapping: on anonymous memory MADV_DONTNEED would discard the contents.
    /// </summary>
    public static void ReleaseResident(byte* p, long length)
    {
        if (!OperatingSystem.IsLinux() || length <= 0) return;
        long page = Environment.SystemPageSize;
        long start = (long)p / page * page, end = ((long)p + length + page - 1) / page * page;
        try { Kernels.Libc.madvise((void*)start, (nuint)(end - start), Kernels.Libc.MADV_DONTNEED); }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { }
    }

    /// <summary>Unmaps the file; weights that point into it must no longer be used.</summary>
    public void Dispose()
    {
        if (_view != null && _ptr != null)
        {
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _ptr = null;
        }
        _view?.Dispose();
        _mmf?.Dispose();
    }
}
