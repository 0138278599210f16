namespace Levee.Internal;

/// <summary>
/// Invalidations (key removals and tag removals) that could not reach L2. Bounded: past <c>capacity</c> entries the
/// journal only remembers that it overflowed, and recovery then bumps the L2 generation, which makes every older L2
/// entry invisible to every instance. Nothing issued while Redis was away is forgotten: an entry journaled again while
/// a replay runs stays for the next replay (each addition has its own version), and one added while an overflow's replay
/// runs is kept as an entry while there is room (the bump under way may have been sent before it), else it extends the
/// overflow.
/// </summary>
internal sealed class InvalidationJournal(int capacity)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, long> _keys = new(StringComparer.Ordinal); // key -> version of its last addition
    private readonly Dictionary<string, long> _keyWalls = new(StringComparer.Ordinal); // key -> time of its latest removal
    private readonly Dictionary<string, long> _tags = new(StringComparer.Ordinal); // tag -> latest invalidation time
    private long _version;
    private long _overflowVersion; // version of the last overflow; 0 when not overflowed
    private volatile int _count;
    private volatile bool _overflowed;
    private bool _replayingOverflow; // an overflowed journal's snapshot was taken: its generation bump may be on the way

    public int Count => _count;

    public bool Overflowed => _overflowed;

    public bool IsEmpty => _count == 0 && !_overflowed;

    /// <summary>Adds a removed key. Returns false when this addition overflowed the journal.</summary>
    public bool AddKey(string key, long wall = long.MinValue)
    {
        lock (_lock)
        {
            if (_overflowed && !_replayingOverflow)
            {
                return true; // the generation bump to come covers it
            }

            if (_overflowed && _keys.Count + _tags.Count >= capacity && !_keys.ContainsKey(key))
            {
                _overflowVersion = ++_version; // no room: the next bump covers it (the one under way may have been sent before it)
                return true;
            }

            if (_keys.Count + _tags.Count >= capacity && !_keys.ContainsKey(key))
            {
                Overflow();
                return false;
            }

            _keys[key] = ++_version;
            _keyWalls[key] = Math.Max(wall, _keyWalls.GetValueOrDefault(key, long.MinValue));
            _count = _keys.Count + _tags.Count;
            return true;
        }
    }

    /// <summary>Adds a removed tag with its invalidation time. Returns false when this addition overflowed the journal.</summary>
    public bool AddTag(string tag, long invalidatedWall)
    {
        lock (_lock)
        {
            if (_overflowed && !_replayingOverflow)
            {
                return true; // as in AddKey
            }

            if (_overflowed && _keys.Count + _tags.Count >= capacity && !_tags.ContainsKey(tag))
            {
                _overflowVersion = ++_version; // as in AddKey
                return true;
            }

            if (_keys.Count + _tags.Count >= capacity && !_tags.ContainsKey(tag))
            {
                Overflow();
                return false;
            }

            _tags[tag] = Math.Max(invalidatedWall, _tags.GetValueOrDefault(tag));
            _count = _keys.Count + _tags.Count;
            return true;
        }
    }

    /// <summary>
    /// Everything was invalidated (<c>RemoveByTagAsync("*")</c>) and L2 could not be told: recovery bumps the generation,
    /// as after an overflow.
    /// </summary>
    public void AddEverything()
    {
        lock (_lock)
        {
            Overflow();
        }
    }

    public bool ContainsKey(string key)
    {
        if (_count == 0)
        {
            return false;
        }

        lock (_lock)
        {
            return _keys.ContainsKey(key);
        }
    }

    public bool ContainsAnyTag(string[] tags)
    {
        if (_count == 0)
        {
            return false;
        }

        lock (_lock)
        {
            foreach (var tag in tags)
            {
                if (_tags.ContainsKey(tag))
                {
                    return true;
                }
            }

            return false;
        }
    }

    /// <summary>What to replay: keys with the version of their last addition, tags with their time, and the overflow's
    /// version (0: not overflowed).</summary>
    public (KeyValuePair<string, long>[] Keys, KeyValuePair<string, long>[] Tags, long OverflowVersion) Snapshot()
    {
        lock (_lock)
        {
            _replayingOverflow = _overflowed;
            return ([.. _keys], [.. _tags], _overflowed ? _overflowVersion : 0);
        }
    }

    /// <summary>What is journaled, for sending it again (not a replay: nothing is forgotten): keys with the time of their
    /// latest removal (<see cref="long.MinValue"/> when not known), tags with theirs, and whether the journal overflowed.</summary>
    public (KeyValuePair<string, long>[] Keys, KeyValuePair<string, long>[] Tags, bool Overflowed) Removals()
    {
        lock (_lock)
        {
            return ([.. _keys.Keys.Select(k => KeyValuePair.Create(k, _keyWalls.GetValueOrDefault(k, long.MinValue)))], [.. _tags], _overflowed);
        }
    }

    /// <summary>
    /// Forgets what was replayed. An entry added again since its snapshot (a newer version of a key, a later time of a
    /// tag, another overflow) stays.
    /// </summary>
    public void Complete(KeyValuePair<string, long>[] keys, KeyValuePair<string, long>[] tags, long overflowVersionHandled)
    {
        lock (_lock)
        {
            if (overflowVersionHandled != 0 && _overflowVersion == overflowVersionHandled)
            {
                _overflowed = false;
            }

            foreach (var (key, version) in keys)
            {
                if (_keys.TryGetValue(key, out var current) && current == version)
                {
                    _keys.Remove(key);
                    _keyWalls.Remove(key);
                }
            }

            foreach (var (tag, time) in tags)
            {
                if (_tags.TryGetValue(tag, out var current) && current <= time)
                {
                    _tags.Remove(tag);
                }
            }

            _count = _keys.Count + _tags.Count;
        }
    }

    private void Overflow()
    {
        _overflowed = true;
        _replayingOverflow = false;
        _overflowVersion = ++_version;
        _keys.Clear();
        _keyWalls.Clear();
        _tags.Clear();
        _count = 0;
    }

    /// <summary>The time of the key's latest journaled removal (the replay sends it with that time, not its own: an instance
    /// that loaded the key after the removal keeps that value); <see cref="long.MinValue"/> when not known.</summary>
    public long WallOf(string key)
    {
        lock (_lock)
        {
            return _keyWalls.GetValueOrDefault(key, long.MinValue);
        }
    }
}
