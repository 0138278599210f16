using Levee.Drill.Load;

namespace Levee.Drill.Tests.Load;

public sealed class ZipfSamplerTests
{
    [Fact]
    public void Probabilities_SumToOne_AndFallWithRank()
    {
        var zipf = new ZipfSampler(1000, 1.0);
        var sum = 0.0;
        for (var k = 0; k < zipf.Count; k++)
        {
            sum += zipf.Probability(k);
            if (k > 0)
            {
                Assert.True(zipf.Probability(k) < zipf.Probability(k - 1), $"rank {k} not less popular than {k - 1}");
            }
        }

        Assert.Equal(1.0, sum, 9);
        // exponent 1: rank 0 is twice as popular as rank 1
        Assert.Equal(2.0, zipf.Probability(0) / zipf.Probability(1), 9);
    }

    [Fact]
    public void Sample_MapsTheUnitIntervalOntoEveryRank()
    {
        var zipf = new ZipfSampler(10, 1.0);
        Assert.Equal(0, zipf.Sample(0.0));
        Assert.Equal(9, zipf.Sample(0.9999999));
        Assert.Equal(0, zipf.Sample(zipf.Probability(0) - 1e-9));
        Assert.Equal(1, zipf.Sample(zipf.Probability(0) + 1e-9));
    }

    [Fact]
    public void Draws_FollowTheDistribution()
    {
        var zipf = new ZipfSampler(100, 1.0);
        var counts = new int[100];
        const int Draws = 200_000;
        for (var i = 0; i < Draws; i++)
        {
            counts[zipf.Sample(DeterministicRandom.Uniform(7, 2, (ulong)i))]++;
        }

        for (var k = 0; k < 5; k++)
        {
            var expected = zipf.Probability(k) * Draws;
            Assert.InRange(counts[k], expected * 0.95, expected * 1.05);
        }
    }

    [Fact]
    public void ExponentZero_IsUniform()
    {
        var zipf = new ZipfSampler(4, 0);
        Assert.All(Enumerable.Range(0, 4), k => Assert.Equal(0.25, zipf.Probability(k), 9));
    }
}
