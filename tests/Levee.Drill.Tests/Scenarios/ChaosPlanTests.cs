using Levee.Drill.Scenarios;

namespace Levee.Drill.Tests.Scenarios;

public sealed class ChaosPlanTests
{
    [Fact]
    public void SameSeed_SameFaultSequence_OtherSeed_OtherSequence()
    {
        var length = TimeSpan.FromSeconds(60);
        var plan = ChaosScenario.Plan(7, length);
        Assert.Equal(plan, ChaosScenario.Plan(7, length));
        Assert.NotEqual(plan.Select(s => (s.Kind, s.Hold)), ChaosScenario.Plan(8, length).Select(s => (s.Kind, s.Hold)));
    }

    [Fact]
    public void Faults_FollowOneAnother_HeldThreeToSevenSeconds_InsideThePhase()
    {
        var length = TimeSpan.FromSeconds(30);
        var plan = ChaosScenario.Plan(1, length);
        Assert.True(plan.Count >= 3, $"{plan.Count} faults in 30 s");
        for (var i = 0; i < plan.Count; i++)
        {
            var step = plan[i];
            Assert.True(step.At + step.Hold <= length);
            Assert.True(step.Hold <= TimeSpan.FromSeconds(7));
            Assert.True(step.Hold >= TimeSpan.FromSeconds(3) || step.At + step.Hold == length, $"step {i} held {step.Hold}");
            Assert.Equal(i == 0 ? TimeSpan.Zero : plan[i - 1].At + plan[i - 1].Hold + ChaosScenario.Settle, step.At);
        }

        Assert.True(plan[^1].At + TimeSpan.FromSeconds(3) < length);
    }
}
