using System.Diagnostics;
using System.Threading.Tasks.Sources;

namespace Levee.Internal;

/// <summary>
/// The time budget of L2 calls, without a timer per call. A call's wait is a pooled <see cref="IValueTaskSource{TResult}"/>
/// that completes with the Redis task's result, or with a <see cref="TimeoutException"/> once its deadline has passed,
/// whichever comes first. Deadlines are checked by one timer per guard that ticks every fifth of the budget while calls
/// are pending: a call gives up between <c>budget</c> and <c>1.2 × budget</c> (plus the timer's own delay) after it
/// started. <see cref="Task.WaitAsync(TimeSpan, TimeProvider)"/> did the same with a timer created and disposed per call
/// (~320 B and a timer-queue insertion and removal per L2 call; docs/benchmarks.md).
/// </summary>
/// <remarks>
/// All calls of one guard have the same budget, so deadlines are in the order calls started: the pending list is a FIFO
/// and a tick only looks at its head. A Redis task that completes after its call timed out is observed (its fault never
/// becomes an unobserved task exception), and only then is the wait returned to the pool.
/// </remarks>
internal sealed class L2Budget : IDisposable
{
    private readonly long _budgetTicks;
    private readonly TimeSpan _tick;
    private readonly TimeProvider _time;
    private readonly bool _systemTime;
    private readonly Lock _lock = new();
    private ITimer? _timer;
    private bool _armed;
    private Pending? _head;
    private Pending? _tail;
    private bool _disposed;

    public L2Budget(TimeSpan budget, TimeProvider time)
    {
        _time = time;
        _systemTime = ReferenceEquals(time, TimeProvider.System);
        _budgetTicks = (long)(budget.TotalSeconds * time.TimestampFrequency);
        _tick = TimeSpan.FromTicks(Math.Max(TimeSpan.TicksPerMillisecond, budget.Ticks / 5));
    }

    /// <summary>The budget as the error message says it.</summary>
    public TimeSpan Budget => TimeSpan.FromSeconds(_budgetTicks / (double)_time.TimestampFrequency);

    /// <summary>Awaits <paramref name="task"/> for at most the budget; past it, the returned task fails with <see cref="TimeoutException"/>.</summary>
    public ValueTask<T> WaitAsync<T>(Task<T> task) => WaitAsync(task, _time.GetTimestamp());

    /// <summary>
    /// Like <see cref="WaitAsync{T}(Task{T})"/>, the budget counted from <paramref name="startedTimestamp"/> (a
    /// <see cref="Stopwatch.GetTimestamp"/> the caller already read; used as is with the system clock, which it is,
    /// and ignored for any other <see cref="TimeProvider"/>, whose own timestamp is read instead).
    /// </summary>
    public ValueTask<T> WaitAsync<T>(Task<T> task, long startedTimestamp)
    {
        if (task.IsCompleted)
        {
            return new ValueTask<T>(task);
        }

        var wait = Wait<T>.Rent();
        wait.Start(this, task, (_systemTime ? startedTimestamp : _time.GetTimestamp()) + _budgetTicks);
        return new ValueTask<T>(wait, wait.Version);
    }

    /// <summary>Stops the timer; calls still pending give up at once (with <see cref="TimeoutException"/>).</summary>
    public void Dispose()
    {
        List<Pending>? pending = null;
        lock (_lock)
        {
            _disposed = true;
            _timer?.Dispose();
            _timer = null;
            _armed = false;
            while (_head is { } head)
            {
                Unlink(head);
                if (head.TryMarkTimedOut())
                {
                    (pending ??= []).Add(head);
                }
            }
        }

        pending?.ForEach(static p => p.QueueTimeout());
    }

    private void Add(Pending pending)
    {
        lock (_lock)
        {
            pending.Prev = _tail;
            pending.Next = null;
            if (_tail is null)
            {
                _head = pending;
            }
            else
            {
                _tail.Next = pending;
            }

            _tail = pending;
            pending.Listed = true;
            if (!_armed && !_disposed)
            {
                _armed = true;
                if (_timer is null)
                {
                    _timer = NoFlow.Timer(_time, static s => ((L2Budget)s!).OnTick(), this, _tick, _tick);
                }
                else
                {
                    _timer.Change(_tick, _tick);
                }
            }
        }
    }

    /// <summary>Unlinks a wait that completed before its deadline. Caller holds no lock.</summary>
    private void Remove(Pending pending)
    {
        lock (_lock)
        {
            Unlink(pending);
        }
    }

    private void Unlink(Pending pending)
    {
        if (!pending.Listed)
        {
            return;
        }

        if (pending.Prev is null)
        {
            _head = pending.Next;
        }
        else
        {
            pending.Prev.Next = pending.Next;
        }

        if (pending.Next is null)
        {
            _tail = pending.Prev;
        }
        else
        {
            pending.Next.Prev = pending.Prev;
        }

        pending.Prev = null;
        pending.Next = null;
        pending.Listed = false;
    }

    private void OnTick()
    {
        List<Pending>? expired = null;
        var now = _time.GetTimestamp();
        lock (_lock)
        {
            while (_head is { } head && head.Deadline <= now)
            {
                Unlink(head);

                // Marked under the lock: a wait whose task completes concurrently is either still listed here (and its
                // completion's Remove waits for this lock) or already marked completed. It can't be pooled and reused in between.
                if (head.TryMarkTimedOut())
                {
                    (expired ??= []).Add(head);
                }
            }

            if (_head is null && _armed)
            {
                _armed = false;
                _timer?.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            }
        }

        if (expired is not null)
        {
            foreach (var pending in expired)
            {
                pending.QueueTimeout(); // completes on the thread pool: never runs a caller's continuation on the timer's thread
            }
        }
    }

    /// <summary>The list node of a pending wait (non-generic part).</summary>
    private abstract class Pending
    {
        public Pending? Prev;
        public Pending? Next;
        public bool Listed;
        public long Deadline;

        public abstract bool TryMarkTimedOut();

        public abstract void QueueTimeout();
    }

    private sealed class Wait<T> : Pending, IValueTaskSource<T>, IThreadPoolWorkItem
    {
        private const int Running = 0;
        private const int Completed = 1;
        private const int TimedOut = 2;
        private const int PoolSize = 64;
        private static readonly Wait<T>?[] Pool = new Wait<T>?[PoolSize];

        private readonly Action _onTaskCompleted;
        private ManualResetValueTaskSourceCore<T> _core; // continuations run inline: on the thread that completes the wait
        private L2Budget? _owner;
        private Task<T>? _task;
        private int _state;
        private int _holders; // the caller (until GetResult) and the task's callback (until it ran): the wait is reused after both

        private Wait()
        {
            _onTaskCompleted = OnTaskCompleted;
        }

        public short Version => _core.Version;

        public static Wait<T> Rent()
        {
            for (var i = 0; i < PoolSize; i++)
            {
                var item = Volatile.Read(ref Pool[i]);
                if (item is not null && Interlocked.CompareExchange(ref Pool[i], null, item) == item)
                {
                    return item;
                }
            }

            return new Wait<T>();
        }

        public void Start(L2Budget owner, Task<T> task, long deadline)
        {
            _owner = owner;
            _task = task;
            _state = Running;
            _holders = 2;
            Deadline = deadline;
            owner.Add(this);
            task.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(_onTaskCompleted);
        }

        public override bool TryMarkTimedOut() => Interlocked.CompareExchange(ref _state, TimedOut, Running) == Running;

        public override void QueueTimeout() => ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);

        void IThreadPoolWorkItem.Execute() =>
            _core.SetException(new TimeoutException($"The L2 call did not complete within its budget ({_owner!.Budget.TotalMilliseconds:0} ms)."));

        private void OnTaskCompleted()
        {
            var task = _task!;
            if (Interlocked.CompareExchange(ref _state, Completed, Running) == Running)
            {
                _owner!.Remove(this);
                if (task.IsCompletedSuccessfully)
                {
                    _core.SetResult(task.Result);
                }
                else
                {
                    _core.SetException(task.Exception?.InnerException ?? new TaskCanceledException(task));
                }
            }
            else
            {
                _ = task.Exception; // timed out earlier: nobody awaits the task any more; observe its fault
            }

            Release();
        }

        public T GetResult(short token)
        {
            try
            {
                return _core.GetResult(token);
            }
            finally
            {
                Release();
            }
        }

        public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

        public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
            _core.OnCompleted(continuation, state, token, flags);

        private void Release()
        {
            if (Interlocked.Decrement(ref _holders) != 0)
            {
                return;
            }

            _core.Reset();
            _owner = null;
            _task = null;
            for (var i = 0; i < PoolSize; i++)
            {
                if (Interlocked.CompareExchange(ref Pool[i], this, null) is null)
                {
                    return;
                }
            }
        }
    }
}
