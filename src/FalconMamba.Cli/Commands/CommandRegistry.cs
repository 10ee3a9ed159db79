using System.CommandLine;
using System.Reflection;

namespace FalconMamba.Cli.Commands;

/// <summary>
/// Every sub-command of <c>falcon-mamba</c>: each lives in its own file as a static class with
/// <c>static Command Create()</c> in this namespace, and is found here, so adding a command touches no shared file.
/// </summary>
internal static class CommandRegistry
{
    public static IEnumerable<Command> All() =>
        typeof(CommandRegistry).Assembly.GetTypes()
            .Where(t => t.Namespace == typeof(CommandRegistry).Namespace && t.IsAbstract && t.IsSealed)   // static classes
            .Select(t => t.GetMethod("Create", BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic, Type.EmptyTypes))
            .Where(m => m != null && m.ReturnType == typeof(Command))
            .Select(m => (Command)m!.Invoke(null, null)!)
            .OrderBy(c => c.Name, StringComparer.Ordinal);
}
