using Levee.Drill.Topology;

namespace Levee.Doctor.Tests.Live;

internal static class LivePolling
{
    public static readonly LiveCheckOptions Options = new() { Timeout = TimeSpan.FromMilliseconds(1500) };

    /// <summary>Runs <paramref name="check"/> until <paramref name="done"/> holds or <paramref name="within"/> passes; returns the last report.</summary>
    public static async Task<DoctorReport> UntilAsync(Func<Task<DoctorReport>> check, Func<DoctorReport, bool> done, TimeSpan within)
    {
        var deadline = DateTime.UtcNow + within;
        while (true)
        {
            var report = await check();
            if (done(report) || DateTime.UtcNow > deadline)
            {
                return report;
            }

            await Task.Delay(250);
        }
    }

    public static string Describe(DoctorReport report, IEnumerable<RedisNode> nodes) =>
        $"findings: {Lint.RuleTests.Describe(report)}; nodes: {string.Join(", ", nodes.Select(n => $"{n.Name}={n.Endpoint} (log {n.LogFile})"))}";
}
