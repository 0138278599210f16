using Levee.Redis;

namespace Levee.Tests.Redis;

/// <summary>
/// The failover rule of a direct connection (masters seen after each configuration change); the real servers run in
/// RealRedisTests. Each case: the masters seen at connect, then the masters seen at each configuration change ("|"
/// between changes, "," between masters), and what each change reports as promoted.
/// </summary>
public sealed class StandalonePromotionTests
{
    [Theory]
    [InlineData("a", "a|a", "|")] // a reconnect of the same master: no failover
    [InlineData("a", "|a", "|")] // the master dies (no master seen), comes back: no failover
    [InlineData("a", "b", "b")] // a replica promoted (the master gone): a failover
    [InlineData("a", "a,b", "b")] // a replica promoted while the old master still says master
    [InlineData("a", "|b", "|b")] // the master dies, then another node is the master: compared with a, a failover
    [InlineData("", "a|b", "|b")] // every node down at connect: the first master seen is no failover, the next one is
    [InlineData("", "|a", "|")] // still nothing, then the first master
    [InlineData("a", "b|b|a", "b||a")] // a failover, the same again, a fail-back
    [InlineData("a,b", "b", "")] // one of two masters gone: nothing new
    public void Observe(string atConnect, string changes, string expected)
    {
        static string[] Set(string list) => list.Split(',', StringSplitOptions.RemoveEmptyEntries);
        var promotion = new StandalonePromotion(Set(atConnect));
        var reported = changes.Split('|').Select(change => string.Join(",", promotion.Observe(Set(change))));
        Assert.Equal(expected, string.Join("|", reported));
    }
}
