using FalconMamba.Model;

namespace FalconMamba.Tests.Model;

/// <summary>Runs alone: the allocation counter is process-wide, so tests running beside it would be counted.</summary>
[CollectionDefinition(nameof(AllocationCounting), DisableParallelization = true)]
public sealed class AllocationCounting;

/// <summary>The decode loop allocates no managed memory in steady state, on any of the pool's threads.</summary>
[Collection(nameof(AllocationCounting))]
public class DecodeAllocationTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void DecodeStepAllocatesNothing(int threads)
    {
        var cfg = TestModel.MakeConfig(d: 48, layers: 2, e: 96, n: 16, r: 3, k: 4, v: 67);
        string dir = new TestModel(cfg, seed: 8).WriteFolder(TestPaths.NewTempDir(), "BF16");
        try
        {
            using var model = MambaModel.Load(dir);
            using var ctx = model.CreateContext(threads, chunkSize: 8);
            var state = model.CreateState();
            ctx.Prefill([1, 2, 3, 4, 5], state);
            int token = 6;
            for (int i = 0; i < 20; i++) token = ArgMax(ctx.Decode(token, state));   // warm up (JIT, tiering)
            // Counted on each of the pool's threads (the caller is worker 0), read by the threads themselves, so
            // other threads of the test process (runner timers, tiered JIT) are not counted.
            long[] before = ctx.AllocatedBytesPerThread();
            for (int i = 0; i < 200; i++) token = ArgMax(ctx.Decode(token, state));
            long[] after = ctx.AllocatedBytesPerThread();
            var perThread = after.Zip(before, (a, b) => a - b).ToArray();
            // the probe itself allocates its result array on the calling thread (once, in the 'after' call)
            long probeBytes = ProbeCost(ctx);
            perThread[0] -= probeBytes;
            TestContext.Current.TestOutputHelper?.WriteLine($"{threads} thread(s): bytes allocated over 200 decode steps per thread = [{string.Join(", ", perThread)}] (probe's own {probeBytes} B subtracted)");
            Assert.All(perThread, b => Assert.Equal(0, b));
        }
        finally { Directory.Delete(dir, true); }
    }

    /// <summary>Bytes one AllocatedBytesPerThread call allocates on the calling thread (probe object and arrays).</summary>
    static long ProbeCost(MambaContext ctx)
    {
        long a = ctx.AllocatedBytesPerThread()[0];
        long b = ctx.AllocatedBytesPerThread()[0];
        return b - a;
    }

    static int ArgMax(ReadOnlySpan<float> v)
    {
        int best = 0;
        for (int i = 1; i < v.Length; i++) if (v[i] > v[best]) best = i;
        return best;
    }
}
