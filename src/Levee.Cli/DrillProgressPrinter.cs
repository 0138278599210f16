using System.Globalization;
using Levee.Drill;

namespace Levee.Cli;

/// <summary>Prints drill progress as plain lines: every notable step, and a status line every 5 seconds of load.</summary>
internal sealed class DrillProgressPrinter(TextWriter writer) : IProgress<DrillProgress>
{
    private readonly Lock _gate = new();

    public void Report(DrillProgress value)
    {
        string line;
        if (value.Message is not null)
        {
            line = string.Create(CultureInfo.InvariantCulture, $"[{value.Client}] {value.Second,3}s {value.Phase,-9} {value.Message}");
        }
        else if (value.Second % 5 == 0)
        {
            line = string.Create(
                CultureInfo.InvariantCulture,
                $"[{value.Client}] {value.Second,3}/{value.TotalSeconds}s {value.Phase,-9} req/s {value.RequestsPerSec,4}  errors {value.ErrorsPerSec,4}  p95 {Ms(value.P95Ms),8}  in flight {value.InFlight,4}  DB q/s {value.DbQueriesPerSec,4}");
        }
        else
        {
            return;
        }

        lock (_gate)
        {
            writer.WriteLine(line);
        }
    }

    private static string Ms(double ms) => ms >= 1000
        ? (ms / 1000).ToString("0.0", CultureInfo.InvariantCulture) + " s"
        : ms.ToString("0.0", CultureInfo.InvariantCulture) + " ms";
}
