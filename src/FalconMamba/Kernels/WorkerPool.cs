namespace FalconMamba.Kernels;

/// <summary>A body of work split by rows across the threads of a <see cref="WorkerPool"/>.</summary>
public interface IParallelBody
{
    /// <summary>Processes items [start, end) on worker <paramref name="worker"/> (0 = the calling thread).</summary>
    void Invoke(int start, int end, int worker);
}

/// <summary>
/// A persistent pool of worker threads that splits [0, count) into one contiguous range per thread.
/// Why not Parallel.For: the decode loop calls this ~10 times per layer per token, and Parallel.For's
/// per-call scheduling and allocations cost more than the work on small matrices. Here a call allocates
/// nothing: the caller passes a reusable <see cref="IParallelBody"/>, workers spin briefly then block.
/// Calls must not be made concurrently on one pool (one pool per model session / per thread of use).
/// </summary>
public sealed class WorkerPool : IDisposable
{
    readonly Thread[] _threads;
    readonly ManualResetEventSlim[] _go;
    readonly CountdownEvent _done;
    IParallelBody? _body;
    int _count;
    int _grain;
    int _next;              // ForDynamic: first item not yet taken
    volatile bool _dynamic; // whether the current call hands out chunks (ForDynamic) or fixed ranges (For)
    volatile bool _disposed;
    readonly object _callLock = new();

    /// <summary>Number of threads that do work, the calling thread included.</summary>
    public int ThreadCount { get; }

    /// <summary>A shared pool sized to the machine, for callers that do not choose.</summary>
    public static WorkerPool Default => _default.Value;
    static readonly Lazy<WorkerPool> _default = new(() => new WorkerPool(Environment.ProcessorCount));

    /// <summary>Creates a pool of <paramref name="threads"/> threads in all (the caller is one of them).</summary>
    public WorkerPool(int threads)
    {
        if (threads < 1 || threads > 1024)
            throw new ArgumentOutOfRangeException(nameof(threads), threads, "--threads must be between 1 and 1024");
        ThreadCount = threads;
        _threads = new Thread[threads - 1];
        _go = new ManualResetEventSlim[threads - 1];
        _done = new CountdownEvent(1);
        // A slim event allocates its lock object the first time a thread blocks on it; block once here (1 ms
        // time-outs) so that allocation happens now and a decode step allocates nothing (DecodeAllocationTests).
        _done.Wait(1);
        for (int i = 0; i < _threads.Length; i++)
        {
            int worker = i + 1;
            _go[i] = new ManualResetEventSlim(false, spinCount: 2000);
            _go[i].Wait(1);
            _threads[i] = new Thread(() => WorkerLoop(worker)) { IsBackground = true, Name = $"fm-worker-{worker}" };
            _threads[i].Start();
        }
    }

    /// <summary>
    /// Runs <paramref name="body"/> over [0, count) split into ThreadCount ranges whose sizes are multiples of
    /// <paramref name="grain"/> (except the last), and returns when all are done.
    /// </summary>
    public void For(int count, IParallelBody body, int grain = 1) => Run(count, body, Math.Max(1, grain), dynamic: false);

    /// <summary>
    /// Runs <paramref name="body"/> over [0, count) in chunks of <paramref name="chunk"/> items that the threads take in
    /// turn from a shared counter, and returns when all are done. For bodies whose items are independent (each output
    /// row of a product is computed the same way whichever thread takes it, so results keep their bits): on a shared
    /// machine a thread that loses its core for a while takes fewer chunks instead of holding up the join, where
    /// <see cref="For"/>'s fixed halves make every call as slow as the slower thread.
    /// </summary>
    public void ForDynamic(int count, IParallelBody body, int chunk)
    {
        if (chunk < 1) throw new ArgumentOutOfRangeException(nameof(chunk), chunk, "chunk must be at least 1");
        Run(count, body, chunk, dynamic: true);
    }

    /// <summary>Hands one call to the workers (fixed ranges or chunks in turn), takes part on the calling thread, joins.</summary>
    void Run(int count, IParallelBody body, int grain, bool dynamic)
    {
        if (count <= 0) return;
        if (ThreadCount == 1 || count <= grain)
        {
            body.Invoke(0, count, 0);
            return;
        }
        lock (_callLock)
        {
            _body = body;
            _count = count;
            _grain = grain;
            _next = 0;
            _dynamic = dynamic;
            int workers = _threads.Length;
            _done.Reset(workers);
            for (int i = 0; i < workers; i++) _go[i].Set();
            if (dynamic) RunChunks(0); else RunRange(0);
            _done.Wait();
            _body = null;
        }
    }

    void RunChunks(int worker)
    {
        while (true)
        {
            int start = Interlocked.Add(ref _next, _grain) - _grain;
            if (start >= _count) return;
            _body!.Invoke(start, Math.Min(_count, start + _grain), worker);
        }
    }

    void RunRange(int worker)
    {
        int units = (_count + _grain - 1) / _grain;
        int per = units / ThreadCount, extra = units % ThreadCount;
        int startUnit = worker * per + Math.Min(worker, extra);
        int endUnit = startUnit + per + (worker < extra ? 1 : 0);
        int start = Math.Min(_count, startUnit * _grain), end = Math.Min(_count, endUnit * _grain);
        if (start < end) _body!.Invoke(start, end, worker);
    }

    void WorkerLoop(int worker)
    {
        var go = _go[worker - 1];
        while (true)
        {
            go.Wait();
            go.Reset();
            if (_disposed) return;
            try { if (_dynamic) RunChunks(worker); else RunRange(worker); }
            finally { _done.Signal(); }
        }
    }

    /// <summary>
    /// Managed bytes allocated so far by each thread of the pool (the caller first), read on the threads themselves
    /// (GC.GetAllocatedBytesForCurrentThread) — tests use it to show a decode step allocates nothing, without
    /// counting unrelated threads of the process.
    /// </summary>
    internal long[] AllocatedBytesPerThread()
    {
        var probe = new AllocationProbe(ThreadCount);
        For(ThreadCount, probe);
        return probe.Bytes;
    }

    sealed class AllocationProbe(int threads) : IParallelBody
    {
        public readonly long[] Bytes = new long[threads];
        public void Invoke(int start, int end, int worker) => Bytes[worker] = GC.GetAllocatedBytesForCurrentThread();
    }

    /// <summary>Stops the worker threads.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var g in _go) g.Set();
    }
}
