namespace Levee;

/// <summary>
/// The event ids of Levee's log messages (<see cref="Log"/>, <c>GateLog</c>), named. The numbers are stable: users filter
/// by them (docs/observability.md lists them), so a message keeps its id and an id is never reused.
/// </summary>
internal static class LeveeEventIds
{
    // the engine (Log)
    public const int L2CallFailed = 1;
    public const int L2Corrupt = 2;
    public const int BreakerOpened = 3;
    public const int BreakerClosed = 4;
    public const int StaleServed = 5;
    public const int PayloadTooLarge = 6;
    public const int SerializeFailed = 7;
    public const int InvalidationJournaled = 8;
    public const int JournalReplayed = 9;
    public const int JournalOverflow = 10;
    public const int GenerationChanged = 11;
    public const int L2StateChanged = 12;
    public const int L2ConnectFailed = 13;
    public const int BackgroundRefreshFailed = 14;
    public const int FailoverFollowed = 15;
    public const int SentinelTrying = 16;
    public const int ScriptingRefused = 17;
    public const int GenerationRestored = 18;
    public const int KeyNotCacheable = 19;
    public const int SentinelNoMaster = 20;
    public const int SentinelSurvey = 21;
    public const int SentinelMasterChecked = 22;
    public const int SentinelSlowConnect = 23;
    public const int SentinelCandidateConnected = 24;
    public const int SentinelCandidateNotMaster = 25;
    public const int SentinelReplicasChanged = 26;
    public const int L1KeptAtFailover = 27;
    public const int ChannelResent = 28;
    public const int ReplicaConnectionChanged = 29;
    public const int ReplicaPublishIncomplete = 30;
    public const int SentinelMasterUnreachableAtStart = 31;

    // the admission gate, warm-up and the L1 snapshot (GateLog)
    public const int RefreshSkipped = 100;
    public const int WarmUpStarted = 110;
    public const int WarmUpDone = 111;
    public const int WarmUpEntryFailed = 112;
    public const int WarmUpDeadlinePassed = 113;
    public const int L2FoundEmpty = 114;
    public const int WarmUpSourceFailed = 115;
    public const int SnapshotWritten = 120;
    public const int SnapshotLoaded = 121;
    public const int SnapshotFailed = 122;
    public const int SnapshotEntryUnreadable = 123;
}
