namespace Levee.Drill.Tests;

public sealed class DrillOptionsTests
{
    [Fact]
    public void Defaults_AreValid_AndRunTheIncidentWithAllThreeClients()
    {
        var options = new DrillOptions();
        Assert.Empty(options.Validate());
        Assert.Equal("incident", options.Scenario);
        Assert.Equal(["naive", "postmortem", "levee"], options.Clients);
    }

    [Fact]
    public void Validate_ReportsEveryProblemAtOnce_NamingTheValues()
    {
        var options = new DrillOptions { Scenario = "nope", Instances = 0, Rate = -1, DbPoolSize = 60, WriteRatio = 0.9 };
        options.Clients.Add("memcached");
        var problems = options.Validate();
        Assert.Contains(problems, p => p.Contains("unknown scenario 'nope'", StringComparison.Ordinal) && p.Contains("incident", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("unknown client 'memcached'", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("instances=0", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("rate=-1", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("db pool=60", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("write ratio=0.9", StringComparison.Ordinal));
    }

    [Fact]
    public void RedisConfig_TakesTheDeploymentsOwnLines_AndRefusesWhatTheDrillSetsItself()
    {
        var options = new DrillOptions();
        options.RedisConfig.Add("cluster-allow-reads-when-down yes");
        options.RedisConfig.Add("maxmemory-policy allkeys-lru");
        Assert.Empty(options.Validate());

        options.RedisConfig.Add("port 6379");
        options.RedisConfig.Add("CLUSTER-NODE-TIMEOUT 15000"); // the scenario's own timing
        options.RedisConfig.Add("  ");
        options.RedisConfig.Add("appendonly yes\nport 1");
        var problems = options.Validate();
        Assert.Contains(problems, p => p.Contains("--redis-config 'port 6379': port is set by the drill itself", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("CLUSTER-NODE-TIMEOUT is set by the drill itself", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("a redis.conf line (directive and arguments) is expected", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("one line each", StringComparison.Ordinal));
        Assert.Equal(4, problems.Count);
    }

    [Theory]
    [InlineData(5520, true)]   // the postmortem's 92-minute outage
    [InlineData(21600, true)]
    [InlineData(21601, false)]
    [InlineData(0, false)]
    public void FaultPhase_AcceptsTheIncidentsFullLength_AndRefusesMoreThanSixHours(int seconds, bool valid)
    {
        var problems = new DrillOptions { FaultSeconds = seconds }.Validate();
        if (valid)
        {
            Assert.Empty(problems);
        }
        else
        {
            Assert.Contains(problems, p => p.Contains($"duration (fault phase)={seconds}", StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task RunAsync_RejectsInvalidOptions_BeforeStartingAnything()
    {
        var ex = await Assert.ThrowsAsync<ArgumentException>(() => DrillRunner.RunAsync(new DrillOptions { Rate = 0 }));
        Assert.Contains("rate=0", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Scenarios_ListEveryScenarioOfTheIssue_AndSayWhichAreNotDone()
    {
        var names = DrillRunner.Scenarios.Select(s => s.Name).ToList();
        Assert.Equal(["incident", "master-crash", "master-hang", "redis-outage", "slow-redis", "cluster-master-crash", "chaos", "deploy", "incident-deploy"], names);
        Assert.All(DrillRunner.Scenarios, s => Assert.True(s.Implemented, s.Name));
        Assert.All(DrillRunner.Scenarios, s => Assert.False(string.IsNullOrWhiteSpace(s.Description)));
    }
}
