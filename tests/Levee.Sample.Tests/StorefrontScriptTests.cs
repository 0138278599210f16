using System.Diagnostics;
using System.Net.Http.Json;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.RegularExpressions;
using Levee.Drill.Topology;
using Levee.Sample.Storefront;
using Xunit.Abstractions;

namespace Levee.Sample.Tests;

/// <summary>
/// <c>samples/storefront.sh</c> end to end, as a user runs it: it starts <c>levee sandbox</c> (real PostgreSQL, Redis and
/// Sentinels) and the storefront, prints the URL; the URL serves the seeded catalog; SIGINT (Ctrl+C) stops every process.
/// The builds of this solution are used (LEVEE_CLI_DLL, LEVEE_STOREFRONT_DLL), so nothing is built here.
/// </summary>
public sealed partial class StorefrontScriptTests(ITestOutputHelper output)
{
    private const int SigInt = 2;

    [Fact]
    public async Task Script_PrintsTheUrl_ServesTheCatalog_CtrlCStopsEverything()
    {
        var psi = new ProcessStartInfo("/bin/bash")
        {
            WorkingDirectory = Repo.Root,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(Path.Combine(Repo.Root, "samples", "storefront.sh"));
        psi.Environment["LEVEE_CLI_DLL"] = Repo.BuiltDll("src", "Levee.Cli");
        psi.Environment["LEVEE_STOREFRONT_DLL"] = Repo.BuiltDll("samples", "Levee.Sample.Storefront");
        var text = new StringBuilder();
        var clock = Stopwatch.StartNew();
        using var script = new Process { StartInfo = psi };
        script.OutputDataReceived += (_, e) => Append(text, e.Data);
        script.ErrorDataReceived += (_, e) => Append(text, e.Data);
        script.Start();
        script.BeginOutputReadLine();
        script.BeginErrorReadLine();
        var pids = new List<int>();
        string? folder = null;
        try
        {
            var running = await WaitForLineAsync(text, RunningLine(), script, TimeSpan.FromSeconds(180));
            var url = ReadyLine().Match(Snapshot(text)).Groups[1].Value;
            output.WriteLine($"ready at {url} after {clock.Elapsed.TotalSeconds:0.0} s");
            pids.Add(int.Parse(running.Groups["app"].Value, System.Globalization.CultureInfo.InvariantCulture));
            pids.Add(int.Parse(running.Groups["sandbox"].Value, System.Globalization.CultureInfo.InvariantCulture));
            pids.AddRange(running.Groups["children"].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(p => int.Parse(p, System.Globalization.CultureInfo.InvariantCulture)));
            folder = running.Groups["folder"].Value;
            Assert.Equal(2 + 8, pids.Count); // storefront, levee sandbox; postgres, 3 redis, 3 sentinels, watchdog
            Assert.All(pids, pid => Assert.True(ProcessHost.IsAlive(pid), $"pid {pid} is not running:\n{Snapshot(text)}"));

            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(15) };
            var featured = await http.GetFromJsonAsync<List<Product>>(url + "/products/featured");
            Assert.Equal(100, featured!.Count);
            Assert.Equal("Levee storefront", (await http.GetFromJsonAsync<Dictionary<string, string>>(url + "/settings/site"))!["title"]);

            var interrupted = Stopwatch.StartNew();
            Assert.Equal(0, Kill(script.Id, SigInt));
            using var exitTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
            await script.WaitForExitAsync(exitTimeout.Token);
            output.WriteLine($"stopped {interrupted.Elapsed.TotalSeconds:0.0} s after SIGINT; exit code {script.ExitCode}");
            output.WriteLine(Snapshot(text));
            Assert.Equal(130, script.ExitCode);
            Assert.All(pids, pid => Assert.False(ProcessHost.IsAlive(pid), $"pid {pid} still runs after Ctrl+C:\n{Snapshot(text)}"));
            if (Environment.GetEnvironmentVariable(ProcessHost.KeepVariable) != "1")
            {
                Assert.False(Directory.Exists(folder), $"{folder} still exists after Ctrl+C");
            }

            Assert.Contains("levee sandbox: stopped; removed " + folder, Snapshot(text), StringComparison.Ordinal);
            Assert.Contains("storefront: stopped\n", Snapshot(text), StringComparison.Ordinal);
        }
        finally
        {
            if (!script.HasExited)
            {
                // a failed assertion: let the script stop what it started, then make sure
                _ = Kill(script.Id, SigInt);
                if (!script.WaitForExit(TimeSpan.FromSeconds(90)))
                {
                    script.Kill();
                }
            }

            foreach (var pid in pids.Where(ProcessHost.IsAlive))
            {
                _ = Kill(pid, 9);
            }
        }
    }

    private static void Append(StringBuilder text, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (text)
        {
            text.AppendLine(line);
        }
    }

    private static string Snapshot(StringBuilder text)
    {
        lock (text)
        {
            return text.ToString();
        }
    }

    private static async Task<Match> WaitForLineAsync(StringBuilder text, Regex pattern, Process script, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < timeout)
        {
            var match = pattern.Match(Snapshot(text));
            if (match.Success)
            {
                return match;
            }

            Assert.False(script.HasExited, $"storefront.sh exited ({(script.HasExited ? script.ExitCode : 0)}) before it was ready:\n{Snapshot(text)}");
            await Task.Delay(100);
        }

        Assert.Fail($"storefront.sh printed no '{pattern}' within {timeout.TotalSeconds} s:\n{Snapshot(text)}");
        return null!;
    }

    [GeneratedRegex(@"^storefront: ready at (http://127\.0\.0\.1:\d+)$", RegexOptions.Multiline)]
    private static partial Regex ReadyLine();

    [GeneratedRegex(@"^storefront: running: storefront pid (?<app>\d+), levee sandbox pid (?<sandbox>\d+) \(its processes: (?<children>[\d ]+), folder (?<folder>\S+)\)$", RegexOptions.Multiline)]
    private static partial Regex RunningLine();

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
#pragma warning disable SYSLIB1054, CA5392
    private static extern int Kill(int pid, int signal);
#pragma warning restore SYSLIB1054, CA5392
}
