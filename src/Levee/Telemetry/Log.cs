using Microsoft.Extensions.Logging;

namespace Levee;

/// <summary>Levee's log messages, with stable event ids (documented in docs/observability.md). Keys and values are never logged.</summary>
internal static partial class Log
{
    [LoggerMessage(LeveeEventIds.L2CallFailed, LogLevel.Warning, "Levee cache '{Cache}': L2 {Operation} failed ({Kind}); continuing without L2 for this call.")]
    public static partial void L2CallFailed(ILogger logger, string cache, string operation, string kind, Exception? exception);

    [LoggerMessage(LeveeEventIds.L2Corrupt, LogLevel.Warning, "Levee cache '{Cache}': an L2 entry was not a valid Levee envelope or could not be deserialized; treated as a miss.")]
    public static partial void L2Corrupt(ILogger logger, string cache, Exception? exception);

    [LoggerMessage(LeveeEventIds.BreakerOpened, LogLevel.Warning, "Levee cache '{Cache}': L2 {Target} circuit breaker opened; it is skipped for {BreakSeconds} s.")]
    public static partial void BreakerOpened(ILogger logger, string cache, string target, double breakSeconds);

    [LoggerMessage(LeveeEventIds.BreakerClosed, LogLevel.Information, "Levee cache '{Cache}': L2 {Target} circuit breaker closed; it is used again.")]
    public static partial void BreakerClosed(ILogger logger, string cache, string target);

    [LoggerMessage(LeveeEventIds.StaleServed, LogLevel.Warning, "Levee cache '{Cache}': factory failed; serving a stale value ({Reason}).")]
    public static partial void StaleServed(ILogger logger, string cache, string reason, Exception? exception);

    [LoggerMessage(LeveeEventIds.PayloadTooLarge, LogLevel.Warning, "Levee cache '{Cache}': serialized value of {Size} bytes exceeds MaximumPayloadBytes {Max}; kept in L1 only.")]
    public static partial void PayloadTooLarge(ILogger logger, string cache, int size, int max);

    [LoggerMessage(LeveeEventIds.SerializeFailed, LogLevel.Error, "Levee cache '{Cache}': the serializer for {Type} threw; the value is kept in L1 only.")]
    public static partial void SerializeFailed(ILogger logger, string cache, string type, Exception exception);

    [LoggerMessage(LeveeEventIds.InvalidationJournaled, LogLevel.Warning, "Levee cache '{Cache}': invalidation could not reach L2; journaled ({Count} pending).")]
    public static partial void InvalidationJournaled(ILogger logger, string cache, int count);

    [LoggerMessage(LeveeEventIds.JournalReplayed, LogLevel.Information, "Levee cache '{Cache}': replayed {Count} journaled invalidations to L2.")]
    public static partial void JournalReplayed(ILogger logger, string cache, int count);

    [LoggerMessage(LeveeEventIds.JournalOverflow, LogLevel.Warning, "Levee cache '{Cache}': invalidation journal overflowed ({Max} entries); every older L2 entry will be made invisible by a generation bump when L2 is back.")]
    public static partial void JournalOverflow(ILogger logger, string cache, int max);

    [LoggerMessage(LeveeEventIds.GenerationChanged, LogLevel.Information, "Levee cache '{Cache}': L2 generation is now {Generation}; L1 entries of older generations are dropped.")]
    public static partial void GenerationChanged(ILogger logger, string cache, long generation);

    [LoggerMessage(LeveeEventIds.L2StateChanged, LogLevel.Information, "Levee cache '{Cache}': L2 {State} ({Detail}).")]
    public static partial void L2StateChanged(ILogger logger, string cache, string state, string? detail);

    [LoggerMessage(LeveeEventIds.L2ConnectFailed, LogLevel.Warning, "Levee cache '{Cache}': could not connect to Redis yet; serving from L1 and the factory, retrying in the background.")]
    public static partial void L2ConnectFailed(ILogger logger, string cache, Exception? exception);

    [LoggerMessage(LeveeEventIds.BackgroundRefreshFailed, LogLevel.Warning, "Levee cache '{Cache}': a background refresh failed; the current value stays.")]
    public static partial void BackgroundRefreshFailed(ILogger logger, string cache, Exception exception);

    [LoggerMessage(LeveeEventIds.FailoverFollowed, LogLevel.Warning, "Levee cache '{Cache}': Redis master switched ({Detail}).")]
    public static partial void FailoverFollowed(ILogger logger, string cache, string detail);

    [LoggerMessage(LeveeEventIds.L1KeptAtFailover, LogLevel.Information, "Levee cache '{Cache}': local entries kept after {Change}: the invalidation channel received every invalidation since Redis was last healthy.")]
    public static partial void L1KeptAtFailover(ILogger logger, string cache, string change);

    [LoggerMessage(LeveeEventIds.ChannelResent, LogLevel.Information, "Levee cache '{Cache}': sent {Count} invalidations through the invalidation channel that it could not send before.")]
    public static partial void ChannelResent(ILogger logger, string cache, int count);

    [LoggerMessage(LeveeEventIds.ReplicaConnectionChanged, LogLevel.Information, "Levee cache '{Cache}': replica {Endpoint} {ConnectionType} connection {State}.")]
    public static partial void ReplicaConnectionChanged(ILogger logger, string cache, string endpoint, string connectionType, string state);

    [LoggerMessage(LeveeEventIds.ReplicaPublishIncomplete, LogLevel.Debug, "Levee cache '{Cache}': a message through the replicas reached {Reached} of {Known} replicas.")]
    public static partial void ReplicaPublishIncomplete(ILogger logger, string cache, int reached, int known);

    [LoggerMessage(LeveeEventIds.SentinelTrying, LogLevel.Debug, "Levee cache '{Cache}': Sentinel check: trying {Master} as master")]
    public static partial void SentinelTrying(ILogger logger, string cache, string master);

    [LoggerMessage(LeveeEventIds.ScriptingRefused, LogLevel.Warning, "Levee cache '{Cache}': Redis refused a Lua script ({Reason}); removals are sent as DEL and PUBLISH and tag times as SET ... GET from now on (a tag's time can be seen lower for one round trip when two instances invalidate it at once); allow EVAL/EVALSHA/SCRIPT LOAD for this user to avoid that.")]
    public static partial void ScriptingRefused(ILogger logger, string cache, string reason);

    [LoggerMessage(LeveeEventIds.GenerationRestored, LogLevel.Warning, "Levee cache '{Cache}': Redis holds L2 generation {Read}, older than the known {Known} (the key was evicted, or a failover lost an update); {Known} is kept and written back so that older entries stay invisible. Use a volatile-* maxmemory-policy or none.")]
    public static partial void GenerationRestored(ILogger logger, string cache, long read, long known);

    [LoggerMessage(LeveeEventIds.KeyNotCacheable, LogLevel.Warning, "Levee cache '{Cache}': a key was not cached ({Problem}; {Length} characters, at most {Maximum}); the factory ran and its value was returned, as HybridCache does.")]
    public static partial void KeyNotCacheable(ILogger logger, string cache, string problem, int length, int maximum);

    // The Sentinel watch's other checks (16 is the one above): what it asked, what it decided, what it found.

    [LoggerMessage(LeveeEventIds.SentinelNoMaster, LogLevel.Debug, "Levee cache '{Cache}': Sentinel check: no Sentinel named a master")]
    public static partial void SentinelNoMaster(ILogger logger, string cache);

    [LoggerMessage(LeveeEventIds.SentinelSurvey, LogLevel.Trace, "Levee cache '{Cache}': Sentinel check: {Answered} Sentinels answered: {Candidates}")]
    public static partial void SentinelSurvey(ILogger logger, string cache, int answered, string candidates);

    [LoggerMessage(LeveeEventIds.SentinelMasterChecked, LogLevel.Trace, "Levee cache '{Cache}': Sentinel check: current master {Master} working: {Working}")]
    public static partial void SentinelMasterChecked(ILogger logger, string cache, string master, bool working);

    [LoggerMessage(LeveeEventIds.SentinelSlowConnect, LogLevel.Trace, "Levee cache '{Cache}': Sentinel check: slow connect to {Master}:\n{ConnectLog}")]
    public static partial void SentinelSlowConnect(ILogger logger, string cache, string master, string connectLog);

    [LoggerMessage(LeveeEventIds.SentinelCandidateConnected, LogLevel.Debug, "Levee cache '{Cache}': Sentinel check: connected to {Master} in {ConnectMilliseconds} ms, ROLE after {RoleMilliseconds} ms")]
    public static partial void SentinelCandidateConnected(ILogger logger, string cache, string master, long connectMilliseconds, long roleMilliseconds);

    [LoggerMessage(LeveeEventIds.SentinelMasterUnreachableAtStart, LogLevel.Warning, "Levee cache '{Cache}': the master {Master} the Sentinels name for '{Service}' does not answer; its replicas are used for reads and messages until it does or the Sentinels name another (writes and removals are journaled meanwhile).")]
    public static partial void SentinelMasterUnreachableAtStart(ILogger logger, string cache, string master, string service);

    [LoggerMessage(LeveeEventIds.SentinelCandidateNotMaster, LogLevel.Debug, "Levee cache '{Cache}': Sentinel check: not switching: a Sentinel names {Master} as master but it reports ROLE {Role}")]
    public static partial void SentinelCandidateNotMaster(ILogger logger, string cache, string master, string? role);

    [LoggerMessage(LeveeEventIds.SentinelReplicasChanged, LogLevel.Debug, "Levee cache '{Cache}': Sentinel check: replicas of {Master} are now {Replicas}")]
    public static partial void SentinelReplicasChanged(ILogger logger, string cache, string master, string replicas);
}
