using FalconMamba.Kernels;

namespace FalconMamba.Tests.Kernels;

public class WorkerPoolTests
{
    /// <summary>Records which items each call covered.</summary>
    sealed class Recorder(int count) : IParallelBody
    {
        public readonly int[] Hits = new int[count];
        public readonly List<(int Start, int End, int Worker)> Calls = new();
        public void Invoke(int start, int end, int worker)
        {
            lock (Calls) Calls.Add((start, end, worker));
            for (int i = start; i < end; i++) Interlocked.Increment(ref Hits[i]);
            Thread.SpinWait(200 * (end - start));   // enough work that both threads take chunks
        }
    }

    [Theory]
    [InlineData(1, 1000, 64)]
    [InlineData(2, 1000, 64)]
    [InlineData(3, 1001, 7)]
    [InlineData(2, 5, 64)]      // fewer items than one chunk: the caller runs them
    public void ForDynamicCoversEveryItemOnceInChunks(int threads, int count, int chunk)
    {
        using var pool = new WorkerPool(threads);
        for (int round = 0; round < 3; round++)   // the pool is reused between calls, as the decode loop does
        {
            var r = new Recorder(count);
            pool.ForDynamic(count, r, chunk);
            Assert.All(r.Hits, h => Assert.Equal(1, h));
            if (threads == 1 || count <= chunk)
                Assert.Equal([(0, count, 0)], r.Calls);   // nothing to share: one call on the caller's thread
            else Assert.All(r.Calls, c =>
            {
                Assert.Equal(0, c.Start % chunk);
                Assert.Equal(Math.Min(count, c.Start + chunk), c.End);
                Assert.InRange(c.Worker, 0, threads - 1);
            });
            // and a fixed-range call right after still splits as before (one range per thread)
            var f = new Recorder(count);
            pool.For(count, f);
            Assert.All(f.Hits, h => Assert.Equal(1, h));
            Assert.True(f.Calls.Count <= threads);
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => pool.ForDynamic(10, new Recorder(10), 0));
    }
}
