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
    [InlineData("levee", true, 4096)]
    [InlineData("levee-no-share", true, 0)]
    [InlineData("levee-redis-only", false, 0)]
    public async Task LeveeUsesTheRunsDatabaseAsSecondChannel_NoShareSharesNoValues_RedisOnlyHasNoChannel(string name, bool channel, int sharedValueMaxBytes)
    {
        var kind = ClientKinds.Create(name, []);
        Assert.Equal(name, kind.Name);
        Assert.Contains(name, ClientKinds.BuiltIn);
        await using var client = (LeveeClient)await kind.CreateAsync(Target, 0, CancellationToken.None);

        Assert.Equal(channel, client.UsesPostgresChannel);
        Assert.Equal(sharedValueMaxBytes, client.SharedValueMaxBytes);
    }
}
