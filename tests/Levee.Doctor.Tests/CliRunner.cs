using System.Diagnostics;

namespace Levee.Doctor.Tests;

/// <summary>Runs the built <c>levee</c> tool (<c>dotnet levee.dll doctor ...</c>) from the repository root and captures its output.</summary>
internal static class CliRunner
{
    public static Task<(int Code, string Out, string Err)> RunAsync(params string[] args) => RunAsync(new Dictionary<string, string>(), args);

    /// <summary>As <see cref="RunAsync(string[])"/>, with these environment variables set for the tool.</summary>
    public static Task<(int Code, string Out, string Err)> RunAsync(IReadOnlyDictionary<string, string> environment, params string[] args) =>
        RunToolAsync(environment, ["doctor", .. args]);

    /// <summary>Runs <c>dotnet levee.dll ARGS</c> (any command, not only <c>doctor</c>).</summary>
    public static Task<(int Code, string Out, string Err)> RunToolAsync(params string[] args) => RunToolAsync(new Dictionary<string, string>(), args);

    private static async Task<(int Code, string Out, string Err)> RunToolAsync(IReadOnlyDictionary<string, string> environment, string[] args)
    {
        // .../tests/Levee.Doctor.Tests/bin/<Configuration>/net10.0/ → src/Levee.Cli/bin/<Configuration>/net10.0/levee.dll
        var framework = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var bin = Repo.Path("src", "Levee.Cli", "bin", framework.Parent!.Name, framework.Name);
        var dll = new[] { "Levee.Cli.dll", "levee.dll" }.Select(n => Path.Combine(bin, n)).FirstOrDefault(File.Exists);
        Assert.True(dll is not null, $"levee.dll / Levee.Cli.dll not found in {bin}: build src/Levee.Cli/Levee.Cli.csproj in the same configuration as the tests");
        var psi = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            WorkingDirectory = Repo.Root,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(dll);
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        psi.Environment["NO_COLOR"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        psi.Environment.Remove("LEVEE_REDIS_PASSWORD");
        psi.Environment.Remove("LEVEE_REDIS_USER");
        psi.Environment.Remove("LEVEE_SENTINEL_PASSWORD");
        psi.Environment.Remove("LEVEE_SENTINEL_USER");
        foreach (var (name, value) in environment)
        {
            psi.Environment[name] = value;
        }
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"levee {string.Join(' ', args)} did not exit within 60 s");
        }

        return (process.ExitCode, await stdout, await stderr);
    }
}
