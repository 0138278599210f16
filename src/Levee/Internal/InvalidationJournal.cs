namespace Levee.Internal;

/// <summary>
/// Invalidations (key removals and tag removals) that could not reach L2. Bounded: past <c>capacity</c> entries the
/// journal only remembers that it overflowed, and recovery then bumps the L2 generation, which makes every older L2
/// entry invisible to every instance. Nothing issued while Redis was away is forgotten.
/// </summary>
internal sealed class InvalidationJournal(int capacity)
{
    private readonly Lock _lock = new();
    private readonly HashSet<string> _keys = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _tags = new(StringComparer.Ordinal);
    private volatile int _count;
    private volatile bool _overflowed;

    public int Count => _count;

    public bool Overflowed => _overflowed;

    public bool IsEmpty => _count == 0 && !_overflowed;

    /// <summary>Adds a removed key. Returns false when this addition overflowed the journal.</summary>
    public bool AddKey(string key)
    {
        lock (_lock)
        {
            if (_overflowed)
            {
                return true;
            }

            if (_keys.Count + _tags.Count >= capacity && !_keys.Contains(key))
            {
                Overflow();
                return false;
            }

            _keys.Add(key);
            _count = _keys.Count + _tags.Count;
            return true;
        }
    }

    /// <summary>Adds a removed tag with its invalidation time. Returns false when this addition overflowed the journal.</summary>
    public bool AddTag(string tag, long invalidatedWall)
    {
        lock (_lock)
        {
            if (_overflowed)
            {
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

    public bool ContainsKey(string key)
    {
        if (_count == 0)
        {
            return false;
        }

        lock (_lock)
        {
            return _keys.Contains(key);
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

    public (string[] Keys, KeyValuePair<string, long>[] Tags, bool Overflowed) Snapshot()
    {
        lock (_lock)
        {
            return ([.. _keys], [.. _tags], _overflowed);
        }
    }

    /// <summary>Forgets what was replayed (entries added meanwhile stay).</summary>
    public void Complete(string[] keys, KeyValuePair<string, long>[] tags, bool overflowHandled)
    {
        lock (_lock)
        {
            if (overflowHandled)
            {
                _overflowed = false;
            }

            foreach (var key in keys)
            {
                _keys.Remove(key);
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
        _keys.Clear();
        _tags.Clear();
        _count = 0;
    }
}
