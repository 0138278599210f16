using Levee.Drill.Measurement;

namespace Levee.Drill.Tests.Measurement;

public sealed class FaultFloorTests
{
    private static TimeSpan At(double seconds) => TimeSpan.FromSeconds(seconds);

    [Fact]
    public void CountsTheFaultsWrites_AndFirstReadsOfAVersion_NotWhatWasReadBefore()
    {
        var floor = new FaultFloor(10, 40);
        floor.Observe("a", isWrite: false, At(1));   // read in the baseline: held
        floor.Observe("b", isWrite: false, At(2));
        floor.Observe("b", isWrite: true, At(5));    // written before the fault, not read since: its next read is a query

        floor.Observe("a", isWrite: false, At(11));  // held: 0
        floor.Observe("b", isWrite: false, At(12));  // new version: 1
        floor.Observe("b", isWrite: false, At(13));  // read again: 0
        floor.Observe("c", isWrite: false, At(14));  // never read: 1
        floor.Observe("c", isWrite: false, At(15));  // shared from then on: 0
        floor.Observe("a", isWrite: true, At(20));   // a write: 1 (its UPDATE)
        floor.Observe("a", isWrite: false, At(21));  // its new version: 1
        floor.Observe("d", isWrite: false, At(45));  // after the fault: not counted

        Assert.Equal(4, floor.Transactions);
    }
}
