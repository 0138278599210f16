using Levee.Drill;
using Levee.Drill.Clients;

namespace Levee.Drill.Tests.Clients;

public sealed class LeveeClientKindTests
{
    private static readonly RedisTarget Target = new("sentinel", "127.0.0.1:1", ["127.0.0.1:2"], "mymaster", ["127.0.0.1:1"])
    {
        Database = "Host=127.0.0.1;Port=3;Username=x;Timeout=1",
    };

    [Theory]
    [InlineData("levee", true)]
    [InlineData("levee-redis-only", false)]
    public async Task LeveeUsesTheRunsDatabaseAsSecondChannel_RedisOnlyDoesNot(string name, bool expected)
    {
        var kind = ClientKinds.Create(name, []);
        Assert.Equal(name, kind.Name);
        await using var client = (LeveeClient)await kind.CreateAsync(Target, 0, CancellationToken.None);

        Assert.Equal(expected, client.UsesPostgresChannel);
    }
}
