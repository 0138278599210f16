using System.Buffers;
using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Caching.Hybrid;

namespace Levee.Serialization;

/// <summary>
/// Finds the serializer of a type once: an <see cref="IHybridCacheSerializer{T}"/> registered in DI, else the first
/// <see cref="IHybridCacheSerializerFactory"/> (last registered first) that accepts it, else a built-in one: strings as
/// UTF-8 and byte arrays as they are (no JSON), everything else System.Text.Json with the configured options.
/// </summary>
internal sealed class SerializerRegistry
{
    private readonly IServiceProvider? _services;
    private readonly IHybridCacheSerializerFactory[] _factories;
    private readonly JsonSerializerOptions _json;
    private readonly ConcurrentDictionary<Type, object> _cache = new();

    public SerializerRegistry(IServiceProvider? services, IEnumerable<IHybridCacheSerializerFactory>? factories, JsonSerializerOptions json)
    {
        _services = services;
        _factories = factories is null ? [] : factories.Reverse().ToArray();
        _json = json;
    }

    public IHybridCacheSerializer<T> Get<T>()
    {
        if (_cache.TryGetValue(typeof(T), out var found))
        {
            return (IHybridCacheSerializer<T>)found;
        }

        return (IHybridCacheSerializer<T>)_cache.GetOrAdd(typeof(T), static (_, self) => self.Create<T>(), this);
    }

    private IHybridCacheSerializer<T> Create<T>()
    {
        if (_services?.GetService(typeof(IHybridCacheSerializer<T>)) is IHybridCacheSerializer<T> registered)
        {
            return registered;
        }

        foreach (var factory in _factories)
        {
            if (factory.TryCreateSerializer<T>(out var serializer))
            {
                return serializer;
            }
        }

        if (typeof(T) == typeof(string))
        {
            return (IHybridCacheSerializer<T>)(object)Utf8StringSerializer.Instance;
        }

        if (typeof(T) == typeof(byte[]))
        {
            return (IHybridCacheSerializer<T>)(object)BytesSerializer.Instance;
        }

        return new JsonSerializer<T>(_json);
    }

    private sealed class Utf8StringSerializer : IHybridCacheSerializer<string>
    {
        public static readonly Utf8StringSerializer Instance = new();

        public string Deserialize(ReadOnlySequence<byte> source) => Encoding.UTF8.GetString(source);

        public void Serialize(string value, IBufferWriter<byte> target) => Encoding.UTF8.GetBytes(value, target);
    }

    private sealed class BytesSerializer : IHybridCacheSerializer<byte[]>
    {
        public static readonly BytesSerializer Instance = new();

        public byte[] Deserialize(ReadOnlySequence<byte> source) => source.ToArray();

        public void Serialize(byte[] value, IBufferWriter<byte> target) => target.Write(value);
    }

    private sealed class JsonSerializer<T>(JsonSerializerOptions options) : IHybridCacheSerializer<T>
    {
        public T Deserialize(ReadOnlySequence<byte> source)
        {
            var reader = new Utf8JsonReader(source);
            return JsonSerializer.Deserialize<T>(ref reader, options)!;
        }

        public void Serialize(T value, IBufferWriter<byte> target)
        {
            using var writer = new Utf8JsonWriter(target);
            JsonSerializer.Serialize(writer, value, options);
        }
    }
}
