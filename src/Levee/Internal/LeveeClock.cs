namespace Levee.Internal;

/// <summary>
/// Two clocks from one <see cref="TimeProvider"/>: a monotonic millisecond clock for L1 expiry checks on the hot
/// path (with the system provider it is <see cref="Environment.TickCount64"/>, a few nanoseconds), and a wall clock
/// (Unix milliseconds) for what is shared through Redis (creation and expiry times, tag invalidation times).
/// </summary>
internal sealed class LeveeClock
{
    private readonly TimeProvider _provider;
    private readonly bool _isSystem;
    private readonly long _ticksPerMs;

    public LeveeClock(TimeProvider provider)
    {
        _provider = provider;
        _isSystem = ReferenceEquals(provider, TimeProvider.System);
        _ticksPerMs = Math.Max(1, provider.TimestampFrequency / 1000);
    }

    public TimeProvider Provider => _provider;

    public long MonoMs
    {
        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
        get => _isSystem ? Environment.TickCount64 : FromProvider();
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private long FromProvider() => _provider.GetTimestamp() / _ticksPerMs;

    public long WallMs => _provider.GetUtcNow().ToUnixTimeMilliseconds();
}
