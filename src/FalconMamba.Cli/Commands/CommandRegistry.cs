using System.CommandLine;

namespace FalconMamba.Cli.Commands;

/// <summary>Every sub-command of <c>falcon-mamba</c>; each lives in its own file with a static <c>Create()</c>.</summary>
internal static class CommandRegistry
{
    public static IEnumerable<Command> All()
    {
        yield return GenerateCommand.Create();
        yield return InfoCommand.Create();
        yield return LogitsCommand.Create();
        yield return TokenizerTrainCommand.Create();
        yield return EvalCommand.Create();
        yield return TrainCommand.Create();
    }
}
