using System.Collections.Concurrent;
using System.Globalization;

// Each caller's ValueTask is stored once and awaited exactly once: what 1,000 concurrent callers do.
#pragma warning disable CA2012

namespace Levee.Benchmarks;

/// <summary>
/// Levee's single flight as it is (<see cref="Today"/>: every caller allocates a Flight + TaskCompletionSource before
/// <c>GetOrAdd</c>, and every joiner suspends its own async state machine) next to the proposed join
/// (<see cref="Proposed"/>: look up first, and a joiner returns the shared task without a state machine). Both run a
/// 1,000-caller stampede of one cold key over a 1 ms load, no cache and no Redis around them, so the lines differ only
/// by the join. Used by the interleaved tables (<c>paired</c>).
/// </summary>
internal sealed class FlightPrototype
{
    private const int Callers = 1_000;
    private static long _sequence;

    private readonly ValueTask<Product>[] _callers = new ValueTask<Product>[Callers];
    private readonly Today _today = new();
    private readonly Proposed _proposed = new();

    private abstract class Flight;

    private sealed class Flight<T> : Flight
    {
        public readonly TaskCompletionSource<T> Source = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private static async Task<Product> LoadAsync(int id)
    {
        await Task.Delay(1).ConfigureAwait(false);
        return Product.For(id);
    }

    private sealed class Today
    {
        private readonly ConcurrentDictionary<string, Flight> _flights = new(StringComparer.Ordinal);

        public async ValueTask<Product> GetAsync(string key, int id, CancellationToken cancellationToken)
        {
            var mine = new Flight<Product>();
            var existing = _flights.GetOrAdd(key, mine);
            if (!ReferenceEquals(existing, mine))
            {
                return await ((Flight<Product>)existing).Source.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            }

            _ = RunAsync(key, mine, id);
            return await mine.Source.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }

        private async Task RunAsync(string key, Flight<Product> flight, int id)
        {
            try
            {
                flight.Source.TrySetResult(await LoadAsync(id).ConfigureAwait(false));
            }
            catch (Exception ex)
            {
                flight.Source.TrySetException(ex);
            }
            finally
            {
                _flights.TryRemove(new KeyValuePair<string, Flight>(key, flight));
            }
        }
    }

    private sealed class Proposed
    {
        private readonly ConcurrentDictionary<string, Flight> _flights = new(StringComparer.Ordinal);

        public ValueTask<Product> GetAsync(string key, int id, CancellationToken cancellationToken)
        {
            if (_flights.TryGetValue(key, out var found) && found is Flight<Product> joined)
            {
                return Join(joined, cancellationToken);
            }

            var mine = new Flight<Product>();
            var existing = _flights.GetOrAdd(key, mine);
            if (!ReferenceEquals(existing, mine))
            {
                return Join((Flight<Product>)existing, cancellationToken);
            }

            _ = RunAsync(key, mine, id);
            return Join(mine, cancellationToken);
        }

        private static ValueTask<Product> Join(Flight<Product> flight, CancellationToken cancellationToken) =>
            new(cancellationToken.CanBeCanceled ? flight.Source.Task.WaitAsync(cancellationToken) : flight.Source.Task);

        private async Task RunAsync(string key, Flight<Product> flight, int id)
        {
            try
            {
                flight.Source.TrySetResult(await LoadAsync(id).ConfigureAwait(false));
            }
            catch (Exception ex)
            {
                flight.Source.TrySetException(ex);
            }
            finally
            {
                _flights.TryRemove(new KeyValuePair<string, Flight>(key, flight));
            }
        }
    }

    private static string ColdKey() => "cold:" + Interlocked.Increment(ref _sequence).ToString(CultureInfo.InvariantCulture);

    private async Task<int> AwaitAllAsync()
    {
        var sum = 0;
        foreach (var caller in _callers)
        {
            sum += (await caller).Id;
        }

        return sum;
    }

    public Task<int> TodayAsync()
    {
        var key = ColdKey();
        for (var i = 0; i < Callers; i++)
        {
            _callers[i] = _today.GetAsync(key, i, CancellationToken.None);
        }

        return AwaitAllAsync();
    }

    public Task<int> ProposedAsync()
    {
        var key = ColdKey();
        for (var i = 0; i < Callers; i++)
        {
            _callers[i] = _proposed.GetAsync(key, i, CancellationToken.None);
        }

        return AwaitAllAsync();
    }
}
