using Polly;
using System.Text.Json;
using Levee.Internal;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

namespace Levee.Benchmarks;

/// <summary>
/// Pieces of Levee's L2 hit on top of the raw GET, to see where its extra microseconds go (interleaved L2 table):
/// the raw GET through Levee's own <see cref="L2Guard"/> (per-call time budget + Polly circuit breaker + metrics), and
/// the raw GET plus Levee's envelope parse and System.Text.Json deserialization.
/// </summary>
internal sealed class L2PathAnatomy
{
    private static readonly JsonSerializerOptions Web = new(JsonSerializerDefaults.Web);
    private readonly IDatabase _database;
    private readonly RedisKey[] _keys;
    private readonly L2Guard _guard;
    private readonly L2Budget _budget = new(LeveeOptionBounds.L2Timeout.Default, TimeProvider.System);
    private readonly Polly.ResiliencePipeline _breaker;
    private readonly string[] _stringKeys;
    private int _next;

    public L2PathAnatomy(IDatabase database, RedisKey[] keys)
    {
        _database = database;
        _keys = keys;
        _stringKeys = keys.Select(k => k.ToString()).ToArray();
        _guard = new L2Guard(new RawStore(database), new LeveeOptions(), new LeveeMetrics(null, "anatomy"), NullLogger.Instance);
        var options = new LeveeOptions();
        _breaker = new Polly.ResiliencePipelineBuilder()
            .AddCircuitBreaker(new Polly.CircuitBreaker.CircuitBreakerStrategyOptions
            {
                FailureRatio = options.BreakerFailureRatio,
                MinimumThroughput = options.BreakerMinimumThroughput,
                SamplingDuration = options.BreakerSamplingDuration,
                BreakDuration = options.BreakerBreakDuration,
                ShouldHandle = static args => new ValueTask<bool>(args.Outcome.Exception is not null and not OperationCanceledException),
            })
            .Build();
    }

    private int Next() => _next = (_next + 1) % _keys.Length;

    public async Task<int> GuardedGetAsync()
    {
        var outcome = await _guard.TryAsync("get", static (store, k) => store.GetAsync(k), _stringKeys[Next()]);
        return outcome.Success && !outcome.Value.IsNull ? (int)outcome.Value.Length() : throw new InvalidOperationException("guarded GET failed");
    }

    public async Task<int> GetWithL2BudgetAsync()
    {
        var bytes = await _budget.WaitAsync((Task<byte[]?>)GetBytesAsync(_keys[Next()]));
        return bytes!.Length;
    }

    public async Task<int> GetWithBudgetAsync()
    {
        var bytes = await ((Task<byte[]?>)GetBytesAsync(_keys[Next()])).WaitAsync(LeveeOptionBounds.L2Timeout.Default, TimeProvider.System, CancellationToken.None);
        return bytes!.Length;
    }

    public async Task<int> GetThroughBreakerAsync()
    {
        var bytes = await _breaker.ExecuteAsync(static async (s, _) => await s.self.GetBytesAsync(s.key), (self: this, key: _keys[Next()]), CancellationToken.None);
        return bytes!.Length;
    }

    private async Task<byte[]?> GetBytesAsync(RedisKey key) => (byte[]?)await _database.StringGetAsync(key);

    public async Task<int> GetParseDeserializeAsync()
    {
        var bytes = (byte[]?)await _database.StringGetAsync(_keys[Next()]);
        if (bytes is null || !Envelope.TryRead(bytes, out var envelope))
        {
            throw new InvalidOperationException("no Levee envelope");
        }

        return JsonSerializer.Deserialize<Product>(envelope.Payload.Span, Web)!.Id;
    }

    /// <summary>Just enough of IL2Store for GET.</summary>
    private sealed class RawStore(IDatabase database) : IL2Store
    {
        public bool IsConnected => true;

        public bool IsReplicaConnected => false;

        public event EventHandler<L2StoreEvent>? StateChanged
        {
            add { }
            remove { }
        }

        public Task<RedisValue> GetAsync(string key) => database.StringGetAsync(key);

        public Task<RedisValue> GetFromReplicaAsync(string key) => throw new NotSupportedException();

        public Task<long?[]> GetNumbersFromReplicaAsync(string[] keys) => throw new NotSupportedException();

        public Task<bool> SetAsync(string key, byte[] value, TimeSpan timeToLive) => throw new NotSupportedException();

        public Task<bool> RemoveAsync(string key) => throw new NotSupportedException();

        public Task<long?[]> GetNumbersAsync(string[] keys) => throw new NotSupportedException();

        public Task SetMaxAsync(string key, long value, TimeSpan timeToLive) => throw new NotSupportedException();

        public Task<long> IncrementAsync(string key) => throw new NotSupportedException();

        public Task PublishAsync(string channel, string message) => throw new NotSupportedException();

        public void Subscribe(string channel, Action<string> handler) => throw new NotSupportedException();

        public ValueTask DisposeAsync() => default;
    }
}
