using System.CommandLine;
using FalconMamba.Model;
using FalconMamba.Server;

namespace FalconMamba.Cli.Commands;

/// <summary><c>falcon-mamba serve --model PATH [--host 127.0.0.1] [--port 8080]</c>: an OpenAI-compatible HTTP server.</summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var host = new Option<string>("--host") { Description = "Address to listen on (loopback by default).", DefaultValueFactory = _ => "127.0.0.1" };
        var port = new Option<int>("--port") { Description = "TCP port.", DefaultValueFactory = _ => 8080 };
        var threads = CommonOptions.Threads();
        var chunk = CommonOptions.Chunk();
        var cmd = new Command("serve", "Serve /v1/completions (echo + logprobs), /v1/chat/completions (state reused across turns) and /v1/models.") { model, host, port, threads, chunk };
        cmd.SetAction((pr, ct) => CliRunner.RunAsync(pr, async () =>
        {
            int p = pr.GetValue(port);
            if (p is < 1 or > 65535) throw new ArgumentException("--port must be between 1 and 65535");
            string path = pr.GetValue(model)!;
            using var m = CliRunner.LoadModel(pr, path);
            var tok = TokenizerLoader.Load(path);
            string url = $"http://{pr.GetValue(host)}:{p}";
            var app = OpenAiServer.Build(m, tok, new ServerOptions { ModelId = Path.GetFileName(Path.TrimEndingDirectorySeparator(path)), Threads = pr.GetValue(threads), ChunkSize = pr.GetValue(chunk) }, url);
            Console.Error.WriteLine($"serving {path} on {url} (Ctrl-C to stop)");
            await app.StartAsync(ct);
            try { await Task.Delay(Timeout.Infinite, ct); } catch (OperationCanceledException) { }
            await app.StopAsync(CancellationToken.None);
            return 0;
        }));
        return cmd;
    }
}
