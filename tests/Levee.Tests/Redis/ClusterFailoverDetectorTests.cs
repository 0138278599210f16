using Levee.Redis;

namespace Levee.Tests.Redis;

/// <summary>The Cluster failover rule on what nodes say of themselves (ROLE); the real Cluster runs in ClusterTests.</summary>
public sealed class ClusterFailoverDetectorTests
{
    private static readonly (string, string?)[] Healthy =
        [("10.0.0.1:7001", "master"), ("10.0.0.2:7002", "master"), ("10.0.0.4:7004", "slave"), ("10.0.0.5:7005", "slave")];

    [Fact]
    public void FirstAnswers_AreNoFailover()
    {
        Assert.Empty(new ClusterFailoverDetector().Observe(Healthy));
    }

    [Fact]
    public void AMasterThatStopsAnsweringAndComesBackAMaster_IsNotAFailover()
    {
        var detector = new ClusterFailoverDetector();
        detector.Observe(Healthy);
        Assert.Empty(detector.Observe([("10.0.0.1:7001", null), ("10.0.0.4:7004", "slave")])); // down: no answer
        Assert.Empty(detector.Observe(Healthy)); // back, still master
    }

    [Fact]
    public void AReplicaThatBecomesMaster_IsAFailover_ReportedOnce_AndAgainAfterAFailBack()
    {
        var detector = new ClusterFailoverDetector();
        detector.Observe(Healthy);
        Assert.Equal(["10.0.0.4:7004"], detector.Observe([("10.0.0.1:7001", null), ("10.0.0.4:7004", "master")]));
        Assert.Empty(detector.Observe([("10.0.0.4:7004", "master")]));

        // the old master comes back as a replica, and is promoted again later
        Assert.Empty(detector.Observe([("10.0.0.1:7001", "slave"), ("10.0.0.4:7004", "master")]));
        Assert.Equal(["10.0.0.1:7001"], detector.Observe([("10.0.0.1:7001", "master"), ("10.0.0.4:7004", "slave")]));
    }

    [Fact]
    public void AnswersThatAreNoRole_ChangeNothing()
    {
        var detector = new ClusterFailoverDetector();
        detector.Observe(Healthy);
        Assert.Empty(detector.Observe([("10.0.0.4:7004", "sentinel"), ("10.0.0.4:7004", ""), ("10.0.0.4:7004", "-ERR")]));
        Assert.Equal(["10.0.0.4:7004"], detector.Observe([("10.0.0.4:7004", "master")])); // still known as a replica
    }
}
