using System.Buffers;
using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.Extensions.Caching.Hybrid;

namespace Levee.Serialization;

/// <summary>
/// Finds the serializer of a type once: an <see cref="IHybridCacheSerializer{T}"/> registered in DI, else the first
/// <see cref="IHybridCacheSerializerFactory"/> (last registered first) that accepts it, else a built-in one: strings as
/// UTF-8 and byte arrays as they are (no JSON), everything else System.Text.Json. The JSON options are, as with
/// Microsoft's HybridCache, a <see cref="JsonSerializerOptions"/> registered in DI keyed by the closed
/// <c>IHybridCacheSerializer&lt;T&gt;</c> type (that type only), else <see cref="LeveeOptions.JsonSerializerOptions"/> when the
/// application set them, else one keyed by the open <c>IHybridCacheSerializer&lt;&gt;</c>, else Levee's defaults. A type whose data is only in public fields (value tuples, or
/// anything holding one) is written with <see cref="JsonSerializerOptions.IncludeFields"/> on unless its options came from a
/// per-type registration: without it, such values would read back from Redis as defaults.
/// </summary>
internal sealed class SerializerRegistry
{
    private readonly IServiceProvider? _services;
    private readonly IHybridCacheSerializerFactory[] _factories;
    private readonly JsonSerializerOptions _json;
    private JsonSerializerOptions? _jsonWithFields;
    private readonly ConcurrentDictionary<Type, object> _cache = new();

    /// <param name="services">Serializers and keyed JSON options registered in DI.</param>
    /// <param name="factories">Serializer factories registered in DI.</param>
    /// <param name="json">Levee's JSON options.</param>
    /// <param name="jsonIsDefault">True when <paramref name="json"/> are Levee's defaults (not set by the application): JSON
    /// options registered in DI for every type then win.</param>
    public SerializerRegistry(IServiceProvider? services, IEnumerable<IHybridCacheSerializerFactory>? factories, JsonSerializerOptions json, bool jsonIsDefault = false)
    {
        _services = services;
        // Microsoft's AddHybridCache() registers its catch-all JSON factory; Levee's own defaults (LeveeOptions.JsonSerializerOptions,
        // strings and byte arrays as they are) stay in charge unless the application registered a factory of its own.
        _factories = factories is null ? [] : factories.Where(static f => !IsMicrosoftDefault(f)).Reverse().ToArray();
        _json = (jsonIsDefault ? Keyed(services, typeof(IHybridCacheSerializer<>)) : null) ?? json;
    }

    private static JsonSerializerOptions? Keyed(IServiceProvider? services, Type key) =>
        services is Microsoft.Extensions.DependencyInjection.IKeyedServiceProvider keyed
            ? keyed.GetKeyedService(typeof(JsonSerializerOptions), key) as JsonSerializerOptions
            : null;

    private static bool IsMicrosoftDefault(IHybridCacheSerializerFactory factory) =>
        factory.GetType() is { Name: "DefaultJsonSerializerFactory" } type && type.Assembly.GetName().Name == "Microsoft.Extensions.Caching.Hybrid";

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

        if (Keyed(_services, typeof(IHybridCacheSerializer<T>)) is { } forThisType)
        {
            return new JsonSerializer<T>(forThisType);
        }

        if (!_json.IncludeFields && FieldOnlyTypes.IsFieldOnly(typeof(T)))
        {
            return new JsonSerializer<T>(_jsonWithFields ??= new JsonSerializerOptions(_json) { IncludeFields = true });
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
        private JsonTypeInfo<T>? _typeInfo;

        /// <summary>
        /// The options' contract for T, resolved on first use and kept. The options are made read-only first, as
        /// JsonSerializer does on their first use (unlocked options would hand out a new, unconfigured contract each time).
        /// </summary>
        private JsonTypeInfo<T> TypeInfo => _typeInfo ??= Resolve();

        private JsonTypeInfo<T> Resolve()
        {
            options.MakeReadOnly(populateMissingResolver: true);
            return (JsonTypeInfo<T>)options.GetTypeInfo(typeof(T));
        }

        public T Deserialize(ReadOnlySequence<byte> source)
        {
            // One segment (an L2 reply always is): parse the span directly. The reader overload first scans the whole
            // value to find its end, then parses it: a second pass over every payload.
            if (source.IsSingleSegment)
            {
                return JsonSerializer.Deserialize(source.FirstSpan, TypeInfo)!;
            }

            var reader = new Utf8JsonReader(source);
            var value = JsonSerializer.Deserialize(ref reader, TypeInfo)!;
            if (reader.Read())
            {
                throw new JsonException("More than one JSON value in the payload."); // as the span overload says for trailing data
            }

            return value;
        }

        public void Serialize(T value, IBufferWriter<byte> target)
        {
            using var writer = new Utf8JsonWriter(target);
            JsonSerializer.Serialize(writer, value, TypeInfo);
        }
    }
}
