using System.Runtime.Intrinsics;
using FalconMamba.Training;

namespace FalconMamba.Tests.Training;

/// <summary>The scan backward's lane reduction for dB/dC against its scalar reference (same pairwise tree: bit-identical).</summary>
public unsafe class ScanVector8Tests
{
    [Theory]
    [InlineData(16)]   // Falcon Mamba's N
    [InlineData(19)]   // two eight-vector reductions and a tail of 3
    [InlineData(3)]
    public void AddLaneSumsMatchesScalarReference(int n)
    {
        var rng = new Random(n);
        var v = new Vector256<float>[n];
        for (int i = 0; i < n; i++)
            v[i] = Vector256.Create(Enumerable.Range(0, 8).Select(_ => (float)(rng.NextDouble() * 2 - 1) * 1e3f).ToArray());
        var d0 = Enumerable.Range(0, n).Select(_ => (float)rng.NextDouble()).ToArray();
        var fast = d0.ToArray(); var reference = d0.ToArray();
        fixed (Vector256<float>* pv = v) fixed (float* pf = fast) ScanVector8.AddLaneSums(pv, n, pf);
        ScanVector8.AddLaneSumsScalar(v, reference);
        Assert.Equal(reference, fast);
        double max = 0;
        for (int i = 0; i < n; i++)
        {
            double s = d0[i];
            for (int l = 0; l < 8; l++) s += v[i][l];
            max = Math.Max(max, Math.Abs(s - fast[i]));
        }
        TestContext.Current.TestOutputHelper!.WriteLine($"AddLaneSums N={n}: bit-identical to the scalar tree; max |fast − float64| = {max:E2}");
        Assert.True(max < 1e-3, $"{max}");   // sums of 8 terms of magnitude ≤ 1e3: a few ulp of ~4e3
    }
}
