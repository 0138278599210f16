using Levee.Drill.Catalog;
using Levee.Drill.Measurement;
using Levee.Drill.Reporting;

namespace Levee.Drill.Tests.Measurement;

/// <summary>The database's load by origin: what marks a read as a request's, background work or warm-up.</summary>
public sealed class QueryOriginTests
{
    [Fact]
    public async Task ARead_IsTheRequests_WhileItWaits_AndBackground_OnceItHasItsAnswer()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Task<QueryKind>? refresh = null;

        async Task<QueryKind> RequestAsync()
        {
            var origin = QueryOrigin.BeginRequest();
            var waited = QueryOrigin.OfRead(); // a read the request awaits
            refresh = Task.Run(async () => // a refresh started on its path (the execution context flows), ending later
            {
                await release.Task;
                return QueryOrigin.OfRead();
            });
            origin.Answered();
            return waited;
        }

        Assert.Equal(QueryKind.Request, await RequestAsync());
        release.SetResult();
        Assert.Equal(QueryKind.Background, await refresh!);
        Assert.Equal(QueryKind.Background, QueryOrigin.OfRead()); // no request in this flow: the mark ended with its method
    }

    [Fact]
    public async Task AWarmUpRead_IsWarmUp_AndTheMarkEndsWithItsMethod()
    {
        static async Task<QueryKind> WarmUpAsync()
        {
            QueryOrigin.BeginWarmUp();
            await Task.Yield();
            return QueryOrigin.OfRead();
        }

        Assert.Equal(QueryKind.WarmUp, await WarmUpAsync());
        Assert.Equal(QueryKind.Background, QueryOrigin.OfRead());
    }

    [Fact]
    public void Timeline_CountsEachSecondsQueriesByOrigin_AndPhasesSumThem()
    {
        var plan = new PhasePlan(1, 2, 0);
        var recorder = new RequestRecorder(plan.TotalSeconds);
        var samples = new List<GaugeSample>
        {
            new(0, 0, 0, 0, 0, 0, "up", new QueryKindCounts(5, 0, 7, 1)),
            new(0, 0, 0, 0, 0, 0, "up", new QueryKindCounts(15, 0, 7, 2)),
            new(0, 0, 0, 0, 0, 0, "up", new QueryKindCounts(16, 30, 7, 2)),
            new(0, 0, 0, 0, 0, 0, "up", new QueryKindCounts(20, 50, 9, 3)),
        };

        var timeline = TimelineAggregator.BuildTimeline(plan, recorder, samples);
        Assert.Equal(new QueryKindCounts(10, 0, 0, 1), timeline[0].DbByKind);
        Assert.Equal(new QueryKindCounts(1, 30, 0, 0), timeline[1].DbByKind);
        var fault = TimelineAggregator.Phase(recorder, timeline, 1, 3, withPeak: false);
        Assert.Equal(new QueryKindCounts(5, 50, 2, 1), fault.DbQueriesByKind);
    }

    [Fact]
    public void TheFaultsLastMinute_IsTheMeanOfItsLast60Seconds_OrOfAShorterFault()
    {
        var timeline = Enumerable.Range(0, 100).Select(s => new TimelinePoint(s, "x", 0, 0, 0, 0, 0, 0, s < 30 ? 1 : 3, 0, 0, 0, 0, 0, "up", 0, 0)).ToList();
        Assert.Equal(3, TimelineAggregator.MeanDbRateOfLast(timeline, 10, 90, 60)); // seconds 30-89
        Assert.Equal(2, TimelineAggregator.MeanDbRateOfLast(timeline, 10, 50, 60)); // the whole 40-s fault: 20 x 1 + 20 x 3
    }
}
