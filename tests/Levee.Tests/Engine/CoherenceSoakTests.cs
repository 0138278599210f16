using System.Collections.Concurrent;
using System.Diagnostics;
using Levee.Tests.Fakes;
using Microsoft.Extensions.Caching.Hybrid;

namespace Levee.Tests.Engine;

/// <summary>
/// A soak test in the style of BitFaster.Caching's: many threads doing random reads, writes, removals, tag removals and
/// clear-alls on one cache over the fake L2, while a chaos thread switches the L2 between healthy and failing, moves the
/// clock, drops the connection and fails over. What it asserts is the engine's core promise within one process: a value
/// whose removal (of its key, of its tag, or of everything) completed before a read began is never returned by that read.
/// </summary>
/// <remarks>
/// Every event is stamped with a ticket from one counter, taken on the safe side: a read's start and a removal's start
/// before the call, a removal's end and a value's "put done" after the call returned. A value is unique (never written
/// twice), so "no later write put it back" holds by construction. The check runs offline, after every thread stopped.
/// Bounded by an operation count and a time limit (past a minimum count per worker, so a slow machine still checks
/// enough); the assertions are about what was returned, never about timing.
/// </remarks>
public class CoherenceSoakTests
{
    private const int Keys = 8;
    private const int Tags = 3;
    private const int Replaced = -2; // a removal record's tag for a SetAsync: it removed the key's older values by replacing them
    private const int Workers = 6;
    private const int OperationsPerWorker = 4_000;
    private const int MinimumOperationsPerWorker = 500; // done however slow the machine is: the counts asserted below never depend on speed
    private static readonly TimeSpan TimeLimit = TimeSpan.FromSeconds(4);

    private long _ticket;
    private long _nextValue;
    private readonly ConcurrentDictionary<string, long> _putDone = new(); // value -> first ticket after an operation that put or returned it completed
    private readonly ConcurrentQueue<(int Key, long Start, string Value)> _reads = new();
    private readonly ConcurrentQueue<(int Key, int Tag, bool All, long Start, long End)> _removals = new();
    private int _failedReads;
    private readonly ConcurrentDictionary<string, string> _origin = new(); // value -> "set" or "factory" (for the failure message)

    private bool _checkTagRemovals;

    private long Ticket() => Interlocked.Increment(ref _ticket);

    private static string KeyOf(int key) => "k" + key;

    private static string TagOf(int key) => "t" + (key % Tags);

    private static int KeyOfValue(string value) => int.Parse(value.AsSpan(1, value.IndexOf('#') - 1), System.Globalization.CultureInfo.InvariantCulture);

    private string NewValue(int key) => "v" + key + "#" + Interlocked.Increment(ref _nextValue);

    private void PutDone(string value, long ticket) => _putDone.AddOrUpdate(value, ticket, (_, old) => Math.Min(old, ticket));

    /// <summary>Removals of the key, clear-alls and SetAsync (which replaces the key's older values) are asserted; tag
    /// removals run in the mix but are not (see the next test).</summary>
    [Fact]
    public Task ManyThreads_WithL2Faults_NeverReturnAValueRemovedBeforeTheReadBegan() => SoakAsync(checkTagRemovals: false);

    /// <summary>
    /// The same run, asserting tag removals too. It found (about one run in 6-20 on a loaded 2-core machine) reads that
    /// began after RemoveByTagAsync returned and still got a value carrying the tag: two records of one tag at the same
    /// millisecond, made concurrently (a removal and a re-read from Redis, or two removals), could land in the other
    /// order, and the later landing set the record's position back to the earlier one, so entries created between the two
    /// positions counted as newer than the removal. Fixed in Coherence.RecordTagInvalidation (the position never goes
    /// back); checked: with the old update the run failed 1 in 22 under 3 busy loops (the tag record's position seen going
    /// from 6867 to 6824), with the fix it passed 40 in a row under the same load.
    /// </summary>
    [Fact]
    public Task ManyThreads_WithL2Faults_NeverReturnAValueInvalidatedByATagBeforeTheReadBegan() => SoakAsync(checkTagRemovals: true);

    private async Task SoakAsync(bool checkTagRemovals)
    {
        _checkTagRemovals = checkTagRemovals;
        var time = TestCache.NewTime();
        var l2 = new FakeL2Store();
        await using var cache = await TestCache.Ready(TestCache.Create(time, l2, o =>
        {
            o.FailSafeThrottleDuration = TimeSpan.FromMilliseconds(20);
            o.FactorySoftTimeout = TimeSpan.FromMilliseconds(30);
            o.BreakerMinimumThroughput = 20;
            o.BreakerBreakDuration = TimeSpan.FromSeconds(1); // fake time: the chaos thread moves it
        }));

        using var stop = new CancellationTokenSource();
        var watch = Stopwatch.StartNew();
        var chaos = Task.Run(() => ChaosAsync(cache, l2, time, stop.Token));
        var workers = Enumerable.Range(0, Workers).Select(w => Task.Run(() => WorkAsync(cache, w, watch))).ToArray();
        var all = Task.WhenAll(workers);
        await TestCache.Bounded(all.ContinueWith(_ => true, TaskScheduler.Default), "the workers");
        await stop.CancelAsync();
        await TestCache.Bounded(chaos.ContinueWith(_ => true, TaskScheduler.Default), "the chaos thread");
        await all; // a worker's unexpected exception fails the test here
        await chaos;

        var violations = FindViolations();
        Assert.True(violations.Count == 0, $"{violations.Count} reads returned a value removed before they began, e.g.: {string.Join("; ", violations.Take(5))}");

        // the run exercised what it checks: values returned, and reads that began after a removal of their key had completed
        var reads = _reads.ToArray();
        var removals = _removals.ToArray();
        Assert.True(reads.Length >= 500, $"only {reads.Length} reads returned a value");
        Assert.True(removals.Count(r => !r.All && r.Tag == -1) >= 50, "too few key removals");
        Assert.True(removals.Count(r => r.Tag == Replaced) >= 50, "too few writes");
        Assert.True(removals.Count(r => r.Tag >= 0) >= 20, "too few tag removals");
        Assert.True(removals.Count(r => r.All) >= 2, "too few clear-alls");
        Assert.True(CheckedReads(reads, removals) >= 200, "too few reads began after a removal that could have hidden their value");
    }

    private async Task WorkAsync(LeveeCache cache, int worker, Stopwatch watch)
    {
        var random = new Random(worker * 7919 + 1);
        var levee = new LeveeEntryOptions { Expiration = TimeSpan.FromMilliseconds(200) };
        var hybrid = new HybridCacheEntryOptions { Expiration = TimeSpan.FromMilliseconds(200) };
        for (var i = 0; i < OperationsPerWorker && (i < MinimumOperationsPerWorker || watch.Elapsed < TimeLimit); i++)
        {
            var key = random.Next(Keys);
            var roll = random.Next(100);
            if (roll < 55)
            {
                await ReadAsync(cache, key, random.Next(2) == 0 ? levee : null, hybrid, random);
            }
            else if (roll < 70)
            {
                var value = NewValue(key);
                _origin[value] = "set";
                var setStart = Ticket();
                if (random.Next(2) == 0)
                {
                    await cache.SetAsync(KeyOf(key), value, levee, [TagOf(key)]);
                }
                else
                {
                    await cache.SetAsync(KeyOf(key), value, hybrid, [TagOf(key)]);
                }

                var setDone = Ticket();
                PutDone(value, setDone);
                _removals.Enqueue((key, Replaced, false, setStart, setDone)); // the write replaced every value of the key put before it began
            }
            else if (roll < 85)
            {
                var start = Ticket();
                await cache.RemoveAsync(KeyOf(key));
                _removals.Enqueue((key, -1, false, start, Ticket()));
            }
            else if (roll < 98)
            {
                var tag = random.Next(Tags);
                var start = Ticket();
                await cache.RemoveByTagAsync("t" + tag);
                _removals.Enqueue((-1, tag, false, start, Ticket()));
            }
            else
            {
                var start = Ticket();
                await cache.RemoveByTagAsync("*");
                _removals.Enqueue((-1, -1, true, start, Ticket()));
            }
        }
    }

    private async Task ReadAsync(LeveeCache cache, int key, LeveeEntryOptions? levee, HybridCacheEntryOptions hybrid, Random random)
    {
        var slow = random.Next(4) == 0;
        var failing = random.Next(10) == 0;
        var start = Ticket();
        string value;
        try
        {
            Func<int, CancellationToken, ValueTask<string>> factory = async (k, _) =>
            {
                if (slow)
                {
                    await Task.Yield();
                }

                if (failing)
                {
                    throw new InvalidOperationException("the database failed");
                }

                var loaded = NewValue(k);
                _origin[loaded] = "factory";
                return loaded;
            };
            value = levee is not null
                ? await cache.GetOrCreateAsync(KeyOf(key), key, factory, levee, [TagOf(key)])
                : await cache.GetOrCreateAsync(KeyOf(key), key, factory, hybrid, [TagOf(key)]);
        }
        catch (InvalidOperationException)
        {
            Interlocked.Increment(ref _failedReads); // the factory failed and no stale value could be served
            return;
        }

        Assert.Equal(key, KeyOfValue(value));
        PutDone(value, Ticket());
        _reads.Enqueue((key, start, value));
    }

    private static async Task ChaosAsync(LeveeCache cache, FakeL2Store l2, Microsoft.Extensions.Time.Testing.FakeTimeProvider time, CancellationToken stop)
    {
        var random = new Random(12345);
        while (!stop.IsCancellationRequested)
        {
            switch (random.Next(20))
            {
                case < 4:
                    l2.Mode = FakeL2Mode.Throw;
                    break;
                case < 9:
                    l2.Mode = FakeL2Mode.Healthy;
                    break;
                case < 15:
                    time.Advance(TimeSpan.FromMilliseconds(random.Next(1, 30)));
                    break;
                case < 17:
                    await cache.RunMaintenanceAsync(); // replays the journal when the L2 answers
                    break;
                case 17:
                    l2.RaiseConnectionLost();
                    l2.RaiseConnected();
                    break;
                case 18:
                    l2.RaiseFailover();
                    break;
                default:
                    await Task.Yield();
                    break;
            }

            await Task.Delay(1, CancellationToken.None);
        }

        l2.Mode = FakeL2Mode.Healthy;
    }

    /// <summary>Removals that apply to <paramref name="key"/> (of it, of its tag, or of everything), ordered by end, with the
    /// latest start among those ending at or before each one.</summary>
    private (long[] Ends, long[] MaxStart) RemovalsOf(int key, (int Key, int Tag, bool All, long Start, long End)[] removals)
    {
        var applying = removals.Where(r => r.All || r.Key == key || (_checkTagRemovals && r.Tag == key % Tags)).OrderBy(r => r.End).ToArray();
        var ends = new long[applying.Length];
        var maxStart = new long[applying.Length];
        var max = long.MinValue;
        for (var i = 0; i < applying.Length; i++)
        {
            ends[i] = applying[i].End;
            max = Math.Max(max, applying[i].Start);
            maxStart[i] = max;
        }

        return (ends, maxStart);
    }

    /// <summary>The latest start of a removal that ended before <paramref name="readStart"/>, or long.MinValue.</summary>
    private static long LatestRemovalBefore((long[] Ends, long[] MaxStart) removals, long readStart)
    {
        var index = Array.BinarySearch(removals.Ends, readStart);
        var count = index >= 0 ? index : ~index; // ends are unique tickets, never equal to a read's start
        return count == 0 ? long.MinValue : removals.MaxStart[count - 1];
    }

    private List<string> FindViolations()
    {
        var removals = _removals.ToArray();
        var byKey = Enumerable.Range(0, Keys).Select(k => RemovalsOf(k, removals)).ToArray();
        var violations = new List<string>();
        foreach (var (key, start, value) in _reads)
        {
            // removed before the read began: a removal that applies to the key began after the value was put and ended before the read began
            var put = _putDone[value];
            var removalStart = LatestRemovalBefore(byKey[key], start);
            if (removalStart > put)
            {
                var by = removals.First(r => (r.All || r.Key == key || (_checkTagRemovals && r.Tag == key % Tags)) && r.Start == removalStart);
                var kind = by.All ? "clear-all" : by.Tag == Replaced ? "SetAsync" : by.Tag >= 0 ? "tag removal" : "removal";
                violations.Add($"key {key}: read at {start} returned {value} ({_origin.GetValueOrDefault(value)}, put done at {put}), removed by a {kind} at {by.Start}-{by.End}");
            }
        }

        return violations;
    }

    /// <summary>Reads that began after some removal of their key had completed (the ones the check can catch).</summary>
    private int CheckedReads((int Key, long Start, string Value)[] reads, (int Key, int Tag, bool All, long Start, long End)[] removals)
    {
        var byKey = Enumerable.Range(0, Keys).Select(k => RemovalsOf(k, removals)).ToArray();
        return reads.Count(r => LatestRemovalBefore(byKey[r.Key], r.Start) != long.MinValue);
    }
}
