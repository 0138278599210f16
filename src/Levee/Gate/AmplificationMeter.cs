namespace Levee.Gate;

/// <summary>
/// The database amplification factor of one gate: the recent factory call rate (exponential average, ~10 s) over its
/// baseline (exponential average, ~15 min), with the baseline floored at 1 call/s so an idle service does not report
/// huge factors for a handful of calls. During its first 15 minutes the baseline is close to the plain average since
/// start; after that, while the recent rate is above twice the baseline, the baseline learns ten times slower, so an
/// incident does not quickly become "the new normal". Updated when read (metrics collection, health).
/// </summary>
internal sealed class AmplificationMeter
{
    internal static readonly TimeSpan RecentWindow = TimeSpan.FromSeconds(10);
    internal static readonly TimeSpan BaselineWindow = TimeSpan.FromMinutes(15);
    internal const double BaselineFloor = 1.0;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private long _calls;
    private long _lastCalls;
    private long _lastTimestamp;
    private readonly long _startTimestamp;
    private double _recent;
    private double _baseline;
    private bool _started;

    public AmplificationMeter(TimeProvider time)
    {
        _time = time;
        _lastTimestamp = time.GetTimestamp();
        _startTimestamp = _lastTimestamp;
    }

    public void Record() => Interlocked.Increment(ref _calls);

    /// <summary>Recent factory calls per second.</summary>
    public double RecentRate
    {
        get
        {
            lock (_lock)
            {
                Update();
                return _recent;
            }
        }
    }

    /// <summary>Recent rate over the baseline (&gt;= 0).</summary>
    public double Read()
    {
        lock (_lock)
        {
            Update();
            return _recent / Math.Max(_baseline, BaselineFloor);
        }
    }

    private void Update()
    {
        var now = _time.GetTimestamp();
        var dt = (double)(now - _lastTimestamp) / _time.TimestampFrequency;
        if (dt < 0.05)
        {
            return;
        }

        var calls = Interlocked.Read(ref _calls);
        var rate = (calls - _lastCalls) / dt;
        _lastCalls = calls;
        _lastTimestamp = now;
        if (!_started)
        {
            _started = true;
            _recent = rate;
            return;
        }

        _recent += (rate - _recent) * (1 - Math.Exp(-dt / RecentWindow.TotalSeconds));
        var age = (double)(now - _startTimestamp) / _time.TimestampFrequency;
        var baselineWindow = age < BaselineWindow.TotalSeconds
            ? Math.Max(age, RecentWindow.TotalSeconds)
            : _recent > 2 * Math.Max(_baseline, BaselineFloor) ? BaselineWindow.TotalSeconds * 10 : BaselineWindow.TotalSeconds;
        _baseline += (_recent - _baseline) * (1 - Math.Exp(-dt / baselineWindow));
    }
}
