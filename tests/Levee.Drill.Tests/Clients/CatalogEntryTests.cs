using Levee.Drill.Catalog;

namespace Levee.Drill.Tests.Clients;

public sealed class CatalogEntryTests
{
    [Fact]
    public void RedisValue_RoundTrips()
    {
        var entry = new CatalogEntry { Key = "product:7", Version = 12, Payload = "a|b" };
        var back = CatalogEntry.FromRedisValue("product:7", entry.ToRedisValue());
        Assert.Equal(12, back.Version);
        Assert.Equal("a|b", back.Payload);
        Assert.Throws<FormatException>(() => CatalogEntry.FromRedisValue("k", "garbage"));
    }

    [Fact]
    public void Shape_PutsSettingsFirst_CoversEveryRow_AndParsesKeys()
    {
        var shape = new CatalogShape(products: 50, categories: 5, users: 20, seed: 3);
        Assert.Equal("settings:site", shape.KeysByPopularity[0]);
        Assert.Equal(76, shape.KeysByPopularity.Distinct().Count());
        Assert.Equal(("products", 42), CatalogShape.Parse("product:42"));
        Assert.Equal(("site_settings", 1), CatalogShape.Parse("settings:site"));
        Assert.Throws<ArgumentException>(() => CatalogShape.Parse("orders:1"));
        Assert.Equal(shape.KeysByPopularity, new CatalogShape(50, 5, 20, 3).KeysByPopularity);
    }
}
