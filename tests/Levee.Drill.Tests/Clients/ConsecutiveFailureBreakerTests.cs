using Levee.Drill.Clients;
using Microsoft.Extensions.Time.Testing;

namespace Levee.Drill.Tests.Clients;

public sealed class ConsecutiveFailureBreakerTests
{
    [Fact]
    public void OpensAfterFiveConsecutiveFailures_HalfOpensAfter30s_WithOneTrial()
    {
        var time = new FakeTimeProvider();
        var breaker = new ConsecutiveFailureBreaker(5, TimeSpan.FromSeconds(30), time);
        for (var i = 0; i < 4; i++)
        {
            Assert.True(breaker.TryEnter(out var trial));
            breaker.Failure(trial);
        }

        Assert.False(breaker.IsOpen);
        Assert.True(breaker.TryEnter(out var fifth));
        breaker.Failure(fifth);
        Assert.True(breaker.IsOpen);
        Assert.False(breaker.TryEnter(out _));

        time.Advance(TimeSpan.FromSeconds(30));
        Assert.True(breaker.TryEnter(out var isTrial));
        Assert.True(isTrial);
        Assert.False(breaker.TryEnter(out _)); // only one trial at a time
        breaker.Failure(isTrial);
        Assert.True(breaker.IsOpen);
        Assert.False(breaker.TryEnter(out _)); // open again for another 30 s

        time.Advance(TimeSpan.FromSeconds(30));
        Assert.True(breaker.TryEnter(out isTrial));
        breaker.Success(isTrial);
        Assert.False(breaker.IsOpen);
    }

    [Fact]
    public void ASuccess_ResetsTheFailureCount()
    {
        var breaker = new ConsecutiveFailureBreaker(5, TimeSpan.FromSeconds(30), new FakeTimeProvider());
        for (var i = 0; i < 20; i++)
        {
            breaker.TryEnter(out var trial);
            if (i % 4 == 3)
            {
                breaker.Success(trial);
            }
            else
            {
                breaker.Failure(trial);
            }
        }

        Assert.False(breaker.IsOpen);
    }
}
