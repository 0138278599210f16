using Levee.Drill.Measurement;
using Levee.Drill.Reporting;

namespace Levee.Drill.Tests.Measurement;

public sealed class StaleReadLogTests
{
    // written by instance 2: invalidation called at 1,000 ms, returned at 1,004 ms
    private static StaleRead Read(int instance, double started, double? received) =>
        new(1, "product:7", instance, 2, 3, 4, 1000, 1004, started, started + 1, received);

    [Fact]
    public void Arrival_TellsDeliveryDelayFromARemovalTheReaderHad()
    {
        Assert.Equal(StaleRead.BeforeArrival, Read(5, started: 1010, received: 1030).Arrival);
        Assert.Equal(StaleRead.AfterArrival, Read(5, started: 1040, received: 1030).Arrival);
        Assert.Equal(StaleRead.NotReceived, Read(5, started: 1010, received: null).Arrival);
        Assert.Equal(StaleRead.WritersInstance, Read(2, started: 1010, received: 1030).Arrival);
    }

    [Fact]
    public void Summary_SaysHowLateTheReadsBegan_AndWhereTheRemovalWas()
    {
        Assert.Null(StaleReadLog.Summary("levee", 0, null));
        var reads = new[] { Read(5, 1010, 1030), Read(6, 1100, 1150), Read(7, 1060, 1030), Read(2, 1005, null) };

        var line = StaleReadLog.Summary("levee", 4, reads);

        Assert.Equal(
            "Stale after invalidation, levee: 4 reads (each in report.json's staleReads); they began 1-96 ms after their invalidation completed; "
            + "the removal reached the reading instance through the second channel 26 to 146 ms after the invalidation completed: "
            + "2 began before the removal reached the reading instance, 1 began after it had arrived there, 1 were on the writer's own instance.",
            line);
        Assert.Contains("(the first 4 kept in report.json's staleReads)", StaleReadLog.Summary("levee", 900, reads), StringComparison.Ordinal);
    }

    [Fact]
    public void Log_AsksWhenTheRemovalArrived_AtTheSnapshot_NotWhenTheReadWasAdded()
    {
        var log = new StaleReadLog();
        double? arrived = null; // not yet when the read ends
        log.Add(Read(5, started: 1010, received: null), () => arrived);
        log.Add(Read(6, started: 1020, received: null)); // a client without receipts

        arrived = 1013.5; // after the read: its delivery delay
        var kept = log.Snapshot();

        Assert.Equal(1013.5, kept[0].RemovalReceivedMs);
        Assert.Equal(StaleRead.BeforeArrival, kept[0].Arrival);
        Assert.Null(kept[1].RemovalReceivedMs);
        Assert.Equal(StaleRead.NotReceived, kept[1].Arrival);
    }

    [Fact]
    public void Log_KeepsTheFirstReads_InTheOrderTheyBegan()
    {
        var log = new StaleReadLog();
        for (var i = StaleReadLog.MaxKept + 5; i > 0; i--)
        {
            log.Add(Read(5, 2000 + i, null));
        }

        var kept = log.Snapshot();
        Assert.Equal(StaleReadLog.MaxKept, kept.Count);
        Assert.Equal(kept.OrderBy(r => r.ReadStartedMs), kept);
    }
}
