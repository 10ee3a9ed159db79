using System.Numerics.Tensors;
using System.Runtime.Intrinsics;

namespace FalconMamba.Training;

/// <summary>
/// The trainer's row-wise passes over [M, D] activations — RMSNorm forward and backward, column sums (bias and norm-weight
/// gradients) — vectorised along the row, each with its scalar reference. Column sums run over blocks of 64 columns with
/// the rows in ascending order (8 Vector256 accumulators per block, rows read contiguously): every column is summed in
/// the same order as the scalar loop, so they are bit-identical to it and independent of how the columns are split
/// over threads. (Walking one column at a time down M rows 1–2 KiB apart read each cache line 16 times, from L3.)
/// </summary>
public static class RowKernels
{
    /// <summary>Columns per block of <see cref="AddColumnSums"/> and <see cref="AddWeightedColumnSums"/> (a parallel unit).</summary>
    public const int ColumnBlock = 64;

    /// <summary>Rows r0..r1: y = x·rstd·w with rstd = 1/√(mean(x²) + eps) (stored per row); the inference kernel's arithmetic.</summary>
    public static void RmsNormForward(float[] x, float[] w, float[] y, float[] rstd, int r0, int r1, int d, float eps)
    {
        for (int row = r0; row < r1; row++)
            rstd[row] = Kernels.RmsNorm.Forward(x.AsSpan(row * d, d), w, y.AsSpan(row * d, d), eps);
    }

    /// <summary>Scalar reference of <see cref="RmsNormForward"/>.</summary>
    public static void RmsNormForwardScalar(float[] x, float[] w, float[] y, float[] rstd, int r0, int r1, int d, float eps)
    {
        for (int row = r0; row < r1; row++)
            rstd[row] = Kernels.RmsNorm.ForwardScalar(x.AsSpan(row * d, d), w, y.AsSpan(row * d, d), eps);
    }

    /// <summary>Rows r0..r1 of the input gradient of y = w·x·rstd: dx += rstd·(w·dy) − x·rstd³/d·Σ_j(w·dy·x).</summary>
    public static void RmsNormBackwardInput(float[] x, float[] w, float[] rstd, float[] dy, float[] dx, int r0, int r1, int d)
    {
        for (int row = r0; row < r1; row++)
        {
            int o = row * d, j = 0;
            float rs = rstd[row];
            var acc = Vector256<float>.Zero;
            if (Vector256.IsHardwareAccelerated)
                for (; j + 8 <= d; j += 8)
                    acc = Vector256.FusedMultiplyAdd(Vector256.Create(w, j) * Vector256.Create(dy, o + j), Vector256.Create(x, o + j), acc);
            float dot = Vector256.Sum(acc);
            for (; j < d; j++) dot += w[j] * dy[o + j] * x[o + j];
            float coef = dot * rs * rs * rs / d;
            j = 0;
            if (Vector256.IsHardwareAccelerated)
            {
                var vrs = Vector256.Create(rs); var vcoef = Vector256.Create(coef);
                for (; j + 8 <= d; j += 8)
                {
                    var g = Vector256.FusedMultiplyAdd(vrs * Vector256.Create(w, j), Vector256.Create(dy, o + j), -(Vector256.Create(x, o + j) * vcoef));
                    (Vector256.Create(dx, o + j) + g).CopyTo(dx, o + j);
                }
            }
            for (; j < d; j++) dx[o + j] += rs * w[j] * dy[o + j] - x[o + j] * coef;
        }
    }

    /// <summary>Scalar reference of <see cref="RmsNormBackwardInput"/>.</summary>
    public static void RmsNormBackwardInputScalar(float[] x, float[] w, float[] rstd, float[] dy, float[] dx, int r0, int r1, int d)
    {
        for (int row = r0; row < r1; row++)
        {
            float rs = rstd[row], dot = 0;
            for (int j = 0; j < d; j++) dot += w[j] * dy[row * d + j] * x[row * d + j];
            float coef = dot * rs * rs * rs / d;
            for (int j = 0; j < d; j++) dx[row * d + j] += rs * w[j] * dy[row * d + j] - x[row * d + j] * coef;
        }
    }

    /// <summary>Column blocks b0..b1 (of <see cref="ColumnBlock"/>) of s[j] += Σ_rows a[row, j] over a [M, N] matrix.</summary>
    public static void AddColumnSums(float[] a, int m, int n, float[] s, int b0, int b1) => ColumnSums(a, null, null, m, n, s, b0, b1);

    /// <summary>Column blocks b0..b1 of s[j] += Σ_rows (a[row, j]·b[row, j])·scale[row] (the RMSNorm weight gradient).</summary>
    public static void AddWeightedColumnSums(float[] a, float[] b, float[] scale, int m, int n, float[] s, int b0, int b1) => ColumnSums(a, b, scale, m, n, s, b0, b1);

    static unsafe void ColumnSums(float[] a, float[]? b, float[]? scale, int m, int n, float[] s, int b0, int b1)
    {
        const int V = ColumnBlock / 8;
        var acc = stackalloc Vector256<float>[V];
        for (int blk = b0; blk < b1; blk++)
        {
            int j0 = blk * ColumnBlock, j1 = Math.Min(n, j0 + ColumnBlock), vec = Vector256.IsHardwareAccelerated ? (j1 - j0) / 8 : 0;
            for (int v = 0; v < vec; v++) acc[v] = default;
            for (int row = 0; row < m; row++)
            {
                int o = row * n + j0;
                if (b == null)
                    for (int v = 0; v < vec; v++) acc[v] += Vector256.Create(a, o + 8 * v);
                else
                {
                    var sc = Vector256.Create(scale![row]);
                    for (int v = 0; v < vec; v++) acc[v] += Vector256.Create(a, o + 8 * v) * Vector256.Create(b, o + 8 * v) * sc;
                }
            }
            for (int v = 0; v < vec; v++) (Vector256.Create(s, j0 + 8 * v) + acc[v]).CopyTo(s, j0 + 8 * v);
            ColumnSumsScalar(a, b, scale, m, n, s, j0 + 8 * vec, j1);
        }
    }

    /// <summary>Scalar reference of the column sums for columns j0..j1 (b and scale null: plain sums).</summary>
    public static void ColumnSumsScalar(float[] a, float[]? b, float[]? scale, int m, int n, float[] s, int j0, int j1)
    {
        for (int j = j0; j < j1; j++)
        {
            float t = 0;
            for (int row = 0; row < m; row++) t += b == null ? a[row * n + j] : a[row * n + j] * b[row * n + j] * scale![row];
            s[j] += t;
        }
    }
}
