using Levee.Drill.Measurement;
using Levee.Drill.Reporting;

namespace Levee.Drill.Tests.Measurement;

public sealed class ErrorCausesTests
{
    [Fact]
    public void Describe_NamesTheType_AndNormalizesNumbersAndGuids()
    {
        var cause = ErrorCauses.Describe(new InvalidOperationException("key product:123 timed out after 250 ms on 127.0.0.1:6379 (request 0b7e9a52-8d1c-4f3e-9a0b-1c2d3e4f5a6b)"));

        Assert.Equal("InvalidOperationException: key product:N timed out after N ms on N.N.N.N:N (request <guid>)", cause);
        Assert.Equal(cause, ErrorCauses.Describe(new InvalidOperationException("key product:9 timed out after 31 ms on 127.0.0.1:6380 (request 11111111-2222-3333-4444-555555555555)")));
    }

    [Fact]
    public void Describe_AppendsTheInnermostCause_AndUnwrapsASingleAggregate()
    {
        var nested = new Npgsql.NpgsqlException("Exception while reading from stream", new IOException("outer io", new TimeoutException("Timeout during reading attempt")));

        Assert.Equal("NpgsqlException: Exception while reading from stream ← TimeoutException: Timeout during reading attempt", ErrorCauses.Describe(nested));
        Assert.Equal(ErrorCauses.Describe(nested), ErrorCauses.Describe(new AggregateException(nested)));
    }

    [Fact]
    public void Describe_APostgresError_KeepsItsSqlState()
    {
        var error = new Npgsql.PostgresException("sorry, too many clients already", "FATAL", "FATAL", "53300");

        Assert.Equal("PostgresException 53300: sorry, too many clients already", ErrorCauses.Describe(error));
    }

    [Fact]
    public void Describe_ACancellationAtTheEndOfTheRun_IsCutOff_OtherwiseItIsItsOwnCause()
    {
        Assert.Equal(ErrorCauses.CutOffCause, ErrorCauses.Describe(new TaskCanceledException(), runEnded: true));
        Assert.Equal("TaskCanceledException: A task was canceled.", ErrorCauses.Describe(new TaskCanceledException(), runEnded: false));
        Assert.Equal("TimeoutException: late", ErrorCauses.Describe(new TimeoutException("late"), runEnded: true)); // not a cancellation
    }

    [Fact]
    public void Normalize_CutsLongMessages_AndSaysWhenThereIsNone()
    {
        Assert.Equal("(no message)", ErrorCauses.Normalize(" "));
        var cut = ErrorCauses.Normalize(new string('x', 500));
        Assert.Equal(160, cut.Length);
        Assert.EndsWith("…", cut, StringComparison.Ordinal);
        Assert.Equal("a b c", ErrorCauses.Normalize(" a\n\tb   c "));
    }

    [Fact]
    public void Recorder_CountsEveryFailedRequestByCause_WithItsFirstAndLastSecond_MostFrequentFirst()
    {
        var recorder = new RequestRecorder(60);
        var ms = TimeSpan.FromMilliseconds(3);
        recorder.Record(TimeSpan.FromSeconds(1.5), ms, RequestOutcome.Ok);
        recorder.Record(TimeSpan.FromSeconds(12.2), ms, RequestOutcome.Error, cause: "TimeoutException: a");
        recorder.Record(TimeSpan.FromSeconds(30.9), ms, RequestOutcome.Error, cause: "TimeoutException: a");
        recorder.Record(TimeSpan.FromSeconds(20), ms, RequestOutcome.Error, cause: "TimeoutException: a");
        recorder.Record(TimeSpan.FromSeconds(15), TimeSpan.Zero, RequestOutcome.Refused);
        recorder.Record(TimeSpan.FromSeconds(14), TimeSpan.Zero, RequestOutcome.Refused, cause: "ignored: a refusal has one cause");
        recorder.Record(TimeSpan.FromSeconds(40), ms, RequestOutcome.Error);
        recorder.Record(TimeSpan.FromSeconds(99), ms, RequestOutcome.Error, cause: "IOException: b"); // past the end: the last second

        var causes = recorder.ErrorsByCause();

        Assert.Equal(
        [
            new ErrorCause("TimeoutException: a", 3, 12, 30),
            new ErrorCause(ErrorCauses.RefusedCause, 2, 14, 15),
            new ErrorCause("unknown", 1, 40, 40),
            new ErrorCause("IOException: b", 1, 59, 59),
        ], causes);
        var errors = Enumerable.Range(0, recorder.Seconds).Sum(s => recorder.Snapshot(s).Errors);
        Assert.Equal(errors, causes.Sum(c => c.Count)); // every error has a cause, refusals included
    }

    [Fact]
    public void Causes_AreBounded_TheRestCountedAsOther()
    {
        var causes = new ErrorCauses();
        for (var i = 0; i < ErrorCauses.MaxCauses + 10; i++)
        {
            causes.Add("cause " + i.ToString(System.Globalization.CultureInfo.InvariantCulture), i);
        }

        causes.Add("cause 0", 70); // a known cause is still counted as itself

        var snapshot = causes.Snapshot();
        Assert.Equal(ErrorCauses.MaxCauses + 1, snapshot.Count);
        Assert.Equal(new ErrorCause(ErrorCauses.OtherCause, 10, ErrorCauses.MaxCauses, ErrorCauses.MaxCauses + 9), snapshot[0]);
        Assert.Equal(new ErrorCause("cause 0", 2, 0, 70), snapshot[1]);
        Assert.Equal(ErrorCauses.MaxCauses + 11, snapshot.Sum(c => c.Count));
    }
}
