namespace Levee.Drill.Load;

/// <summary>
/// Draws ranks 0..n-1 with Zipf popularity: P(rank k) is proportional to 1 / (k + 1)^exponent.
/// The cumulative distribution is computed once; a draw is a binary search over it.
/// </summary>
internal sealed class ZipfSampler
{
    private readonly double[] _cumulative;

    public ZipfSampler(int count, double exponent)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(exponent);
        _cumulative = new double[count];
        var sum = 0.0;
        for (var k = 0; k < count; k++)
        {
            sum += 1.0 / Math.Pow(k + 1, exponent);
            _cumulative[k] = sum;
        }

        for (var k = 0; k < count; k++)
        {
            _cumulative[k] /= sum;
        }

        _cumulative[count - 1] = 1.0;
    }

    public int Count => _cumulative.Length;

    /// <summary>Probability of a rank (for tests and for documenting the key mix).</summary>
    public double Probability(int rank) => rank == 0 ? _cumulative[0] : _cumulative[rank] - _cumulative[rank - 1];

    /// <summary>Maps a uniform value in [0, 1) to a rank.</summary>
    public int Sample(double uniform)
    {
        var index = Array.BinarySearch(_cumulative, uniform);
        if (index < 0)
        {
            index = ~index;
        }

        return Math.Min(index, _cumulative.Length - 1);
    }
}
