namespace Levee.Gate;

/// <summary>
/// An adaptive concurrency limit in the manner of Netflix concurrency-limits' <c>Gradient2Limit</c> behind a
/// <c>WindowedLimit</c>: factory latencies are averaged per window (short RTT); a slow exponential average of the window
/// values is the baseline (long RTT). At the end of each window:
/// <code>
/// gradient = clamp(longRtt / shortRtt, 0.5, 1)          // &lt; 1 when latency rose above the baseline
/// estimate = limit * gradient + sqrt(limit)            // headroom lets the limit probe upwards
/// limit    = limit * (1 - smoothing) + estimate * smoothing, clamped to [min, max]
/// </code>
/// The limit is left alone while the gate is under-used (peak in-flight below half the limit: "app limited"), and when
/// latency falls far below the baseline (long/short &gt; 2) the baseline is pulled down by 10% per window so a
/// recovered backend is trusted again quickly. Not thread-safe: the gate calls it under its lock.
/// </summary>
internal sealed class GradientLimit
{
    private const int BaselineWindows = 100;
    private const int BaselineWarmup = 5;
    private readonly int _min;
    private readonly int _max;
    private readonly double _smoothing;
    private readonly long _windowTicks;
    private readonly int _minSamples;
    private readonly TimeProvider _time;
    private double _limit;
    private long _windowStart;
    private int _samples;
    private double _sum;
    private int _peakInFlight;
    private double _longRtt;
    private int _windows;

    public GradientLimit(LeveeGateOptions options, TimeProvider time)
    {
        _min = options.MinLimit;
        _max = options.MaxLimit;
        _smoothing = options.AdaptiveSmoothing;
        _time = time;
        _windowTicks = (long)(options.AdaptiveWindow.TotalSeconds * time.TimestampFrequency);
        _minSamples = options.AdaptiveWindowMinSamples;
        _limit = Math.Clamp(options.InitialLimit, _min, _max);
        _windowStart = time.GetTimestamp();
    }

    public int Limit => (int)_limit;

    /// <summary>Baseline latency in seconds (0 until the first window).</summary>
    public double LongRtt => _longRtt;

    /// <summary>Average latency of the last completed window, in seconds.</summary>
    public double ShortRtt { get; private set; }

    /// <summary>Records one factory latency; returns true when a window closed and the limit changed.</summary>
    public bool OnSample(double seconds, int inFlightAtStart)
    {
        _samples++;
        _sum += seconds;
        _peakInFlight = Math.Max(_peakInFlight, inFlightAtStart);
        var now = _time.GetTimestamp();
        if (_samples < _minSamples || now - _windowStart < _windowTicks)
        {
            return false;
        }

        var shortRtt = Math.Max(_sum / _samples, 1e-6);
        var peak = _peakInFlight;
        _windowStart = now;
        _samples = 0;
        _sum = 0;
        _peakInFlight = 0;
        ShortRtt = shortRtt;
        return Update(shortRtt, peak);
    }

    private bool Update(double shortRtt, int peakInFlight)
    {
        _windows++;
        if (_windows <= BaselineWarmup)
        {
            _longRtt = _longRtt + ((shortRtt - _longRtt) / _windows);
        }
        else
        {
            _longRtt += (shortRtt - _longRtt) * (2.0 / (BaselineWindows + 1));
        }

        if (_longRtt / shortRtt > 2)
        {
            _longRtt *= 0.9;
        }

        if (peakInFlight < _limit / 2)
        {
            return false;
        }

        var gradient = Math.Clamp(_longRtt / shortRtt, 0.5, 1.0);
        var estimate = (_limit * gradient) + Math.Sqrt(_limit);
        var next = Math.Clamp((_limit * (1 - _smoothing)) + (estimate * _smoothing), _min, _max);
        var changed = (int)next != (int)_limit;
        _limit = next;
        return changed;
    }
}
