using System.CommandLine;
using FalconMamba.Cli.Commands;

// The `falcon-mamba` command: thin entry points that parse arguments and compose the library.
var root = new RootCommand("FalconMamba.NET: run, evaluate and train Falcon Mamba / Mamba models in pure C#.");
root.Options.Add(CliRunner.VerboseOption);
root.Options.Add(CliRunner.QuantizeOption);
root.Options.Add(CliRunner.NoMmapOption);
foreach (var command in CommandRegistry.All())
    root.Subcommands.Add(command);
return await root.Parse(args).InvokeAsync();
