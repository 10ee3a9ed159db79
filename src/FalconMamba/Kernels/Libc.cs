using System.Runtime.InteropServices;

namespace FalconMamba.Kernels;

/// <summary>
/// The few Linux memory calls the engine makes (mapping anonymous memory, advising the kernel about pages); .NET has no
/// managed API for huge-page advice. Callers check <see cref="OperatingSystem.IsLinux"/> first.
/// </summary>
internal static unsafe class Libc
{
    public const int PROT_READ = 1, PROT_WRITE = 2, MAP_PRIVATE = 2, MAP_ANONYMOUS = 0x20;
    /// <summary>Drop the page-table entries (file mapping: data stays in the page cache; anonymous: contents lost).</summary>
    public const int MADV_DONTNEED = 4;
    /// <summary>Back this range with transparent huge pages.</summary>
    public const int MADV_HUGEPAGE = 14;

    [DllImport("libc", EntryPoint = "mmap")] public static extern void* mmap(void* addr, nuint length, int prot, int flags, int fd, nint offset);
    [DllImport("libc", EntryPoint = "munmap")] public static extern int munmap(void* addr, nuint length);
    [DllImport("libc", EntryPoint = "madvise")] public static extern int madvise(void* addr, nuint length, int advice);
}
