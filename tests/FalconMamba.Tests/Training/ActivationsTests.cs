using FalconMamba.Training;

namespace FalconMamba.Tests.Training;

/// <summary>The vector softplus / gate kernels against their scalar MathF references, including the softplus threshold.</summary>
public class ActivationsTests
{
    [Fact]
    public void VectorKernelsMatchScalarReferences()
    {
        var rng = new Random(5);
        const int n = 203;   // 25 vectors and a tail of 3
        float[] R(double scale) => Enumerable.Range(0, n).Select(_ => (float)((rng.NextDouble() * 2 - 1) * scale)).ToArray();
        var x = R(30); x[0] = 20; x[1] = 20.0001f; x[2] = -30; x[3] = 0;   // around the threshold and far below
        var y = R(2); var z = R(8); var d = R(1);
        static double MaxRel(float[] p, float[] q) => p.Zip(q, (a, b) => Math.Abs(a - b) / Math.Max(1e-3, Math.Abs(b))).Max();
        void Check(string what, float[] fast, float[] reference)
        {
            double e = MaxRel(fast, reference);
            TestContext.Current.TestOutputHelper!.WriteLine($"{what}: max rel diff {e:E2}");
            Assert.True(e < 2e-6, $"{what}: {e}");   // vector exp/log vs MathF: a few ulp
        }
        float[] a1 = new float[n], a2 = new float[n];
        Activations.Softplus(x, a1); Activations.SoftplusScalar(x, a2); Check("softplus", a1, a2);
        Assert.Equal(20f, a1[0], 1e-5f);   // log(1 + e²⁰) just below the threshold
        Assert.Equal(x[1], a1[1]);   // identity above 20
        var b1 = d.ToArray(); var b2 = d.ToArray();
        Activations.SoftplusBackward(x, b1); Activations.SoftplusBackwardScalar(x, b2); Check("softplus backward", b1, b2);
        Activations.Gate(y, z, a1); Activations.GateScalar(y, z, a2); Check("gate", a1, a2);
        float[] dy1 = new float[n], dz1 = new float[n], dy2 = new float[n], dz2 = new float[n];
        Activations.GateBackward(d, y, z, dy1, dz1); Activations.GateBackwardScalar(d, y, z, dy2, dz2);
        Check("gate backward dy", dy1, dy2); Check("gate backward dz", dz1, dz2);
    }
}
