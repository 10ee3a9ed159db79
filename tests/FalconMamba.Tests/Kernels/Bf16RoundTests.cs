using FalconMamba.Kernels;

namespace FalconMamba.Tests.Kernels;

/// <summary>
/// bf16 rounding (round to nearest, ties to even; NaN and ±Inf kept): the scalar reference against values worked out by
/// hand from the bit patterns, and the vectorised <see cref="Bf16Round.Round"/> against the scalar reference bit for bit.
/// </summary>
public class Bf16RoundTests
{
    static float F(uint bits) => BitConverter.UInt32BitsToSingle(bits);
    static uint U(float v) => BitConverter.SingleToUInt32Bits(v);

    // (input bits, expected bits): bf16 keeps the high 16 bits; the low 16 decide the rounding.
    public static TheoryData<uint, uint, string> HandValues => new()
    {
        { 0x3F800000, 0x3F800000, "1 is exact" },
        { 0x3F808000, 0x3F800000, "1 + 2^-8: tie between 1 and 1 + 2^-7, kept bit 0 is even → down" },
        { 0x3F818000, 0x3F820000, "1 + 3·2^-8: tie, kept bit 1 is odd → up to 1 + 2^-6" },
        { 0x3F808001, 0x3F810000, "just above the tie → up" },
        { 0x3F807FFF, 0x3F800000, "just below the tie → down" },
        { 0xBF808000, 0xBF800000, "−(1 + 2^-8): ties to even in magnitude, sign kept" },
        { 0x40490FDB, 0x40490000, "π (3.14159274) → 3.140625" },
        { 0x3DCCCCCD, 0x3DCD0000, "0.1 → 0.10009765625 (low half 0xCCCD > 0x8000 → up)" },
        { 0x80000000, 0x80000000, "−0 stays −0" },
        { 0x00000001, 0x00000000, "smallest subnormal → +0" },
        { 0x00008000, 0x00000000, "subnormal tie, even → 0" },
        { 0x00018000, 0x00020000, "subnormal tie, odd → up" },
        { 0x7F7FFFFF, 0x7F800000, "f32 max rounds past the largest bf16 (0x7F7F) → +Inf, as torch" },
        { 0x7F7F7FFF, 0x7F7F0000, "largest bf16 region, below the tie → largest bf16" },
        { 0x7F800000, 0x7F800000, "+Inf" },
        { 0xFF800000, 0xFF800000, "−Inf" },
        { 0x7FC00000, 0x7FC00000, "quiet NaN" },
        { 0x7F800001, 0x7FC00000, "NaN with only a low payload bit: truncation would give Inf, the quiet bit keeps it NaN" },
        { 0xFFFFFFFF, 0xFFFF0000, "negative NaN, all ones: no carry into the sign" },
        { 0x7FBFFFFF, 0x7FFF0000, "signalling NaN, payload high: quieted" },
    };

    [Theory]
    [MemberData(nameof(HandValues))]
    public void ScalarMatchesHandValues(uint input, uint expected, string why)
    {
        uint got = U(Bf16Round.Scalar(F(input)));
        Assert.True(got == expected, $"{why}: 0x{input:X8} → 0x{got:X8}, expected 0x{expected:X8}");
        // the vector path (lane 3 of 16 + 1 tail element) on the same value
        var src = Enumerable.Repeat(F(input), 17).ToArray();
        var dst = new float[17];
        Bf16Round.Round(src, dst);
        Assert.All(dst, v => Assert.Equal(expected, U(v)));
    }

    [Fact]
    public void VectorMatchesScalarBitForBit()
    {
        // every sign/exponent/high-mantissa pattern (all 65536 high halves) × low halves around the tie and the edges,
        // then random bit patterns; lengths with vector tails; once out of place and once in place.
        uint[] lows = [0x0000, 0x0001, 0x7FFF, 0x8000, 0x8001, 0xFFFF, 0x4000, 0xC000];
        var bits = new List<uint>(65536 * lows.Length + 100003);
        for (uint hi = 0; hi < 65536; hi++) foreach (var lo in lows) bits.Add(hi << 16 | lo);
        var rng = new Random(5);
        for (int i = 0; i < 100003; i++) bits.Add((uint)rng.NextInt64(0, 1L << 32));
        var src = bits.Select(F).ToArray();
        var vec = new float[src.Length];
        Bf16Round.Round(src, vec);
        var inPlace = (float[])src.Clone();
        Bf16Round.Round(inPlace, inPlace);
        var scalar = new float[src.Length];
        Bf16Round.Scalar(src, scalar);
        int mismatches = 0, nans = 0;
        for (int i = 0; i < src.Length; i++)
        {
            if (U(vec[i]) != U(scalar[i]) || U(inPlace[i]) != U(scalar[i])) mismatches++;
            if (float.IsNaN(src[i])) { nans++; Assert.True(float.IsNaN(vec[i])); }
            else if (float.IsNormal(src[i]) && float.IsFinite(vec[i]))   // subnormals keep fewer bits; huge values may round to Inf
                Assert.True(Math.Abs((double)vec[i] - src[i]) <= Math.Abs((double)src[i]) * Math.Pow(2, -8), $"0x{bits[i]:X8}: relative error above 2^-8");
        }
        TestContext.Current.TestOutputHelper?.WriteLine($"{src.Length} values ({nans} NaN): {mismatches} vector/scalar mismatches");
        Assert.Equal(0, mismatches);
        foreach (int n in new[] { 0, 1, 7, 8, 9, 15, 16, 17, 31, 33 })
        {
            var d = new float[n];
            Bf16Round.Round(src.AsSpan(1000, n), d);
            for (int i = 0; i < n; i++) Assert.Equal(U(scalar[1000 + i]), U(d[i]));
        }
    }

    [Fact]
    public void RelativeErrorOfNormalsIsAtMostTwoToTheMinusEight()
    {
        // 8 significant bits: one ulp is 2^-7 relative at the bottom of a binade (torch.finfo(bfloat16).eps = 2^-7), and
        // round-to-nearest errs by at most half an ulp, so the unit roundoff is u = 2^-8 (not 2^-9: that would be 9 bits).
        var rng = new Random(7);
        double worst = 0;
        for (int i = 0; i < 200000; i++)
        {
            float v = (float)((rng.NextDouble() - 0.5) * Math.Pow(2, rng.Next(-60, 60)));
            if (v == 0) continue;
            worst = Math.Max(worst, Math.Abs((Bf16Round.Scalar(v) - (double)v) / v));
        }
        TestContext.Current.TestOutputHelper?.WriteLine($"worst relative rounding error {worst:E3} (bound u = 2^-8 = {Math.Pow(2, -8):E3})");
        Assert.True(worst <= Math.Pow(2, -8));
        Assert.True(worst > 0.99 * Math.Pow(2, -8), "the bound is attained: just above 1 + 2^-8, halfway between 1 and 1 + 2^-7");
    }
}
