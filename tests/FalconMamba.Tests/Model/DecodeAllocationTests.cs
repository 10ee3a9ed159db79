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
            // GetTotalAllocatedBytes(precise: true) counts every thread, the pool's workers included.
            long before = GC.GetTotalAllocatedBytes(true);
            for (int i = 0; i < 200; i++) token = ArgMax(ctx.Decode(token, state));
            long allocated = GC.GetTotalAllocatedBytes(true) - before;
            TestContext.Current.TestOutputHelper?.WriteLine($"{threads} thread(s): {allocated} bytes allocated over 200 decode steps");
            Assert.Equal(0, allocated);
        }
        finally { Directory.Delete(dir, true); }
    }

    static int ArgMax(ReadOnlySpan<float> v)
    {
        int best = 0;
        for (int i = 1; i < v.Length; i++) if (v[i] > v[best]) best = i;
        return best;
    }
}
