using System.Buffers;
using System.Text;
using System.Text.Json.Serialization;
using Levee.Serialization;
using Levee.Tests.Fakes;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.DependencyInjection;

namespace Levee.Tests.Engine;

public partial class SerializationTests
{
    [Fact]
    public void StringsAndBytes_PassThroughWithoutJson()
    {
        var registry = new SerializerRegistry(null, null, new());
        var writer = new ArrayBufferWriter<byte>();
        registry.Get<string>().Serialize("héllo", writer);
        Assert.Equal("héllo", Encoding.UTF8.GetString(writer.WrittenSpan)); // no JSON quotes
        writer.Clear();
        registry.Get<byte[]>().Serialize([1, 2, 3], writer);
        Assert.Equal(new byte[] { 1, 2, 3 }, writer.WrittenSpan.ToArray());
    }

    [Fact]
    public void SerializerRegisteredInDI_IsHonoured()
    {
        var services = new ServiceCollection();
        services.AddSingleton<IHybridCacheSerializer<Money>, MoneySerializer>();
        using var provider = services.BuildServiceProvider();
        var registry = new SerializerRegistry(provider, null, new());
        var writer = new ArrayBufferWriter<byte>();
        registry.Get<Money>().Serialize(new Money(12.5m), writer);
        Assert.Equal("EUR12.5", Encoding.UTF8.GetString(writer.WrittenSpan));
    }

    [Fact]
    public void SerializerFactory_IsHonoured()
    {
        var registry = new SerializerRegistry(null, [new MoneyFactory()], new());
        Assert.IsType<MoneySerializer>(registry.Get<Money>());
    }

    [Fact]
    public void Json_ReadsOneSegmentAndManySegments_AndRejectsTrailingBytes()
    {
        var options = new System.Text.Json.JsonSerializerOptions(); // not locked yet: the serializer resolves T's contract itself
        var serializer = new SerializerRegistry(null, null, options).Get<Product>();
        var writer = new ArrayBufferWriter<byte>();
        serializer.Serialize(new Product(3, "Desk"), writer);
        var bytes = writer.WrittenSpan.ToArray();

        Assert.Equal(new Product(3, "Desk"), serializer.Deserialize(new ReadOnlySequence<byte>(bytes)));
        Assert.Equal(new Product(3, "Desk"), serializer.Deserialize(Split(bytes, bytes.Length / 2)));
        Assert.True(options.IsReadOnly);

        // what Levee writes is exactly one value: anything after it is corruption (a miss), not ignored
        byte[] trailing = [.. bytes, .. "{}"u8];
        Assert.ThrowsAny<System.Text.Json.JsonException>(() => serializer.Deserialize(new ReadOnlySequence<byte>(trailing)));
        Assert.ThrowsAny<System.Text.Json.JsonException>(() => serializer.Deserialize(Split(trailing, bytes.Length - 3)));

        static ReadOnlySequence<byte> Split(byte[] bytes, int at)
        {
            var first = new Segment(bytes.AsMemory(0, at), 0);
            var second = new Segment(bytes.AsMemory(at), at);
            first.SetNext(second);
            return new ReadOnlySequence<byte>(first, 0, second, second.Memory.Length);
        }
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public void SetNext(Segment next) => Next = next;
    }

    [Fact]
    public async Task SourceGeneratedJsonContext_RoundTripsThroughL2()
    {
        var time = TestCache.NewTime();
        var redis = new FakeRedis();
        await using var a = TestCache.Create(time, new FakeL2Store(redis), o => o.JsonSerializerOptions = ProductJson.Default.Options);
        await using var b = TestCache.Create(time, new FakeL2Store(redis), o => o.JsonSerializerOptions = ProductJson.Default.Options);
        await a.RunMaintenanceAsync();
        await b.RunMaintenanceAsync();
        await a.SetAsync("p", new Product(7, "Lamp"), new LeveeEntryOptions());
        Assert.Equal(new Product(7, "Lamp"), (await b.TryGetAsync<Product>("p")).Value);
        Assert.Contains("\"name\":\"Lamp\"", Encoding.UTF8.GetString(redis.Data["levee:d:0:p"]), StringComparison.Ordinal);
    }

    public sealed record Money(decimal Amount);

    public sealed record Product(int Id, string Name);

    [JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
    [JsonSerializable(typeof(Product))]
    public partial class ProductJson : JsonSerializerContext;

    private sealed class MoneySerializer : IHybridCacheSerializer<Money>
    {
        public Money Deserialize(ReadOnlySequence<byte> source) => new(decimal.Parse(Encoding.UTF8.GetString(source)[3..], System.Globalization.CultureInfo.InvariantCulture));

        public void Serialize(Money value, IBufferWriter<byte> target) => Encoding.UTF8.GetBytes("EUR" + value.Amount.ToString(System.Globalization.CultureInfo.InvariantCulture), target);
    }

    private sealed class MoneyFactory : IHybridCacheSerializerFactory
    {
        public bool TryCreateSerializer<T>([System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out IHybridCacheSerializer<T>? serializer)
        {
            serializer = typeof(T) == typeof(Money) ? (IHybridCacheSerializer<T>)(object)new MoneySerializer() : null;
            return serializer is not null;
        }
    }
}
