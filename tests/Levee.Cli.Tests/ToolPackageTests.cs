using System.Diagnostics;
using System.IO.Compression;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;

namespace Levee.Cli.Tests;

/// <summary>
/// The release path as a new user meets it: <c>scripts/pack.sh</c> packs every package into a temp folder, <c>dotnet tool
/// install</c> installs <c>Levee.Cli</c> from that folder alone (a NuGet.config that clears every other source, an empty
/// package cache) into a temp tool path, and the installed <c>levee</c> prints its version and the commit it was built
/// from, and lints the incident's configuration; the symbol packages map the sources to the repository at HEAD (SourceLink).
/// About 70 s on a busy 2-core machine (docs/release.md).
/// </summary>
public sealed class ToolPackageTests
{
    private static readonly TimeSpan PackTimeout = TimeSpan.FromMinutes(10);
    private static readonly TimeSpan RunTimeout = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task PackedTool_InstallsFromTheFolder_PrintsVersionAndCommit_AndLints()
    {
        // the version the repository builds (the informational version is "1.0.0+<sha>" with git, "1.0.0" without)
        var informational = typeof(LeveeCommand).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()!.InformationalVersion;
        var version = informational.Split('+')[0];
        var head = (await RunAsync("git", ["rev-parse", "HEAD"], Repo.Root, RunTimeout)).Output.Trim();
        Assert.Matches("^[0-9a-f]{40}$", head);

        var temp = Directory.CreateTempSubdirectory("levee-pack-test.");
        try
        {
            var feed = Path.Combine(temp.FullName, "feed");
            var pack = await RunAsync("bash", [Path.Combine(Repo.Root, "scripts", "pack.sh"), feed], Repo.Root, PackTimeout);
            Assert.True(pack.Code == 0, $"scripts/pack.sh exited {pack.Code}:\n{pack.Output}\n{pack.Error}");

            // the libraries with their symbol packages; the tool as a small pointer package and one package per platform
            foreach (var name in new[] { "Levee", "Levee.PostgreSql" })
            {
                Assert.True(File.Exists(Path.Combine(feed, $"{name}.{version}.nupkg")), $"{name}.{version}.nupkg missing:\n{pack.Output}");
                var symbols = Path.Combine(feed, $"{name}.{version}.snupkg");
                Assert.True(File.Exists(symbols), $"{name}.{version}.snupkg missing:\n{pack.Output}");

                // SourceLink: the PDB maps the sources to the repository at this commit (also where origin is no GitHub URL)
                using var zip = ZipFile.OpenRead(symbols);
                var pdb = zip.GetEntry($"lib/net10.0/{name}.pdb") ?? throw new InvalidOperationException($"no {name}.pdb in {symbols}");
                using var stream = new MemoryStream();
                using (var entry = pdb.Open())
                {
                    await entry.CopyToAsync(stream);
                }

                Assert.Contains($"https://raw.githubusercontent.com/levee-cache/levee/{head}/*", Encoding.UTF8.GetString(stream.ToArray()), StringComparison.Ordinal);
            }

            var pointer = new FileInfo(Path.Combine(feed, $"Levee.Cli.{version}.nupkg"));
            Assert.True(pointer.Exists, $"Levee.Cli.{version}.nupkg missing:\n{pack.Output}");
            Assert.True(pointer.Length < 100_000, $"Levee.Cli.{version}.nupkg is {pointer.Length} bytes: it should only point at the platform packages");
            Assert.True(File.Exists(Path.Combine(feed, $"Levee.Cli.any.{version}.nupkg")), $"the fallback Levee.Cli.any is missing:\n{pack.Output}");
            var platform = new FileInfo(Path.Combine(feed, $"Levee.Cli.{RuntimeInformation.RuntimeIdentifier}.{version}.nupkg"));
            if (platform.Exists)
            {
                // a platform of ToolPackageRuntimeIdentifiers (elsewhere the install takes Levee.Cli.any)
                Assert.True(platform.Length < 20_000_000, $"{platform.Name} is {platform.Length} bytes (the package for every platform was ~80 MB)");
            }

            // only the fresh folder: no other source, and a package cache of its own (one left by an earlier run, of the
            // same version but another commit, would otherwise be taken)
            var config = Path.Combine(temp.FullName, "NuGet.config");
            await File.WriteAllTextAsync(config, $"""
                <?xml version="1.0" encoding="utf-8"?>
                <configuration>
                  <packageSources>
                    <clear />
                    <add key="levee-pack-test" value="{feed}" />
                  </packageSources>
                </configuration>
                """);
            var toolPath = Path.Combine(temp.FullName, "tools");
            var environment = new Dictionary<string, string> { ["NUGET_PACKAGES"] = Path.Combine(temp.FullName, "nuget-packages") };
            var install = await RunAsync("dotnet",
                ["tool", "install", "Levee.Cli", "--tool-path", toolPath, "--version", version, "--configfile", config],
                temp.FullName, RunTimeout, environment);
            Assert.True(install.Code == 0, $"dotnet tool install exited {install.Code}:\n{install.Output}\n{install.Error}");

            var levee = Path.Combine(toolPath, OperatingSystem.IsWindows() ? "levee.exe" : "levee");
            var versionRun = await RunAsync(levee, ["--version"], temp.FullName, RunTimeout);
            Assert.True(versionRun.Code == 0, $"levee --version exited {versionRun.Code}:\n{versionRun.Error}");
            Assert.Equal($"{version}+{head}", versionRun.Output.Trim());

            // the incident's Sentinel configs: quorum 3 of 3 Sentinels tolerates no failure (T002, an error: exit 1)
            var fixture = Path.Combine(Repo.Root, "tests", "Levee.Doctor.Tests", "Fixtures", "incident");
            var lint = await RunAsync(levee, ["doctor", "lint", fixture, "--format", "json"], temp.FullName, RunTimeout);
            Assert.True(lint.Code == 1, $"levee doctor lint exited {lint.Code}, expected 1 (errors found):\n{lint.Output}\n{lint.Error}");
            Assert.Contains("\"T002\"", lint.Output, StringComparison.Ordinal);
        }
        finally
        {
            temp.Delete(recursive: true);
        }
    }

    /// <summary>Runs a process to its end (killed, with its children, after <paramref name="timeout"/>).</summary>
    private static async Task<(int Code, string Output, string Error)> RunAsync(string file, string[] args, string workingDirectory,
        TimeSpan timeout, Dictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo(file)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        // the test host runs under `dotnet test`: its MSBuild variables must not steer the nested dotnet commands
        foreach (var name in start.Environment.Keys.Where(k => k.StartsWith("MSBUILD", StringComparison.OrdinalIgnoreCase)).ToList())
        {
            start.Environment.Remove(name);
        }

        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1";
        // the installed tool's launcher finds the runtime the tests run on
        start.Environment["DOTNET_ROOT"] = Path.GetFullPath(Path.Combine(RuntimeEnvironment.GetRuntimeDirectory(), "..", "..", ".."));
        if (environment is not null)
        {
            foreach (var (name, value) in environment)
            {
                start.Environment[name] = value;
            }
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {file}");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not end within {timeout}:\n{await output}\n{await error}");
        }

        return (process.ExitCode, await output, await error);
    }
}
