using FalconMamba.Kernels;

namespace FalconMamba.Training;

/// <summary>
/// Runs a range body on a <see cref="WorkerPool"/>. Training calls this a few dozen times per layer per step, on blocks
/// large enough that the delegate call per range costs nothing; every output element is written by exactly one range,
/// so results never depend on how ranges land on threads.
/// </summary>
internal static class Par
{
    sealed class Body(Action<int, int> action) : IParallelBody
    {
        public void Invoke(int start, int end, int worker) => action(start, end);
    }

    public static void For(WorkerPool pool, int count, Action<int, int> range, int grain = 1) =>
        pool.For(count, new Body(range), grain);
}
