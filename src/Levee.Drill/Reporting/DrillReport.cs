using System.Text.Json;
using System.Text.Json.Serialization;
using Levee.Drill.Catalog;

namespace Levee.Drill.Reporting;

/// <summary>The whole drill: what ran, on what, and per client what users and the database saw.</summary>
internal sealed record DrillReport(
    string Scenario,
    string Description,
    ulong Seed,
    DateTimeOffset StartedAt,
    MachineInfo Machine,
    LoadSettings Load,
    TopologyInfo Topology,
    IReadOnlyList<FaultStep> Faults,
    IReadOnlyList<ClientRun> Runs)
{
    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>True when every Redis and Sentinel process listened on TLS only (<c>--tls</c>).</summary>
    public bool Tls { get; init; }

    /// <summary>The extra <c>redis.conf</c> lines of every data node (<c>--redis-config</c>); empty when none.</summary>
    public IReadOnlyList<string> RedisConfig { get; init; } = [];

    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    public static DrillReport FromJson(string json) =>
        JsonSerializer.Deserialize<DrillReport>(json, JsonOptions) ?? throw new JsonException("empty report");
}

internal sealed record MachineInfo(string Host, int Cores, string Os, string Runtime);

internal sealed record LoadSettings(
    double RatePerSecond,
    int Instances,
    int InFlightLimitPerInstance,
    int DbPoolPerInstance,
    double DbQueryCostMs,
    double DbCapacityQueriesPerSec,
    int Keys,
    double ZipfExponent,
    double WriteRatio,
    int BaselineSeconds,
    int FaultSeconds,
    int RecoverySeconds);

internal sealed record TopologyInfo(string Kind, int Masters, int Replicas, int Sentinels, int Quorum, int DownAfterMs, string Postgres);

/// <summary>A fault or repair action at a second of the timeline.</summary>
internal sealed record FaultStep(double AtSecond, string Action);

/// <summary>
/// One client's run. <see cref="Status"/> is <c>ran</c>, <c>not run</c> or <c>failed</c>.
/// <see cref="StaleAfterInvalidation"/> counts reads that started after a write and its invalidation had
/// completed and returned an older row; <see cref="StaleAfterInvalidationLate"/> those that started more than
/// 1 s after the key's latest completed invalidation (beyond any reasonable backplane delay).
/// </summary>
internal sealed record ClientRun(
    string Client,
    string Description,
    string Status,
    string? Note,
    long Requests,
    long Errors,
    long Refused,
    PhaseBlock? Baseline,
    PhaseBlock? Fault,
    PhaseBlock? Recovery,
    double? DbAmplification,
    FailoverInfo? Failover,
    long StaleServed,
    long StaleAfterInvalidation,
    double? RecoverySeconds,
    IReadOnlyList<FaultStep>? Events,
    IReadOnlyList<TimelinePoint>? Timeline,
    long StaleAfterInvalidationLate = 0)
{
    /// <summary>PostgreSQL's own count over the run: transactions of the run database (writes included).</summary>
    public long DbQueriesServer { get; init; }

    /// <summary>The clients' own count of their database queries over the run (reads and writes).</summary>
    public long DbQueriesClient { get; init; }

    /// <summary>PostgreSQL's mean transactions per second over the fault's last 60 seconds (all of it when shorter).</summary>
    public double? FaultLastMinuteDbQueriesPerSec { get; init; }

    /// <summary>The same client, seed and phases with no fault (<see cref="DrillOptions.Reference"/>); null when not asked for.</summary>
    public ReferenceRun? Reference { get; init; }

    /// <summary>PostgreSQL's transactions (run database) in the fault phase's seconds.</summary>
    public long? FaultDbTransactions { get; init; }

    /// <summary>The fault phase's unavoidable transactions for a cache whose instances share every load but hold only what
    /// they read (<see cref="Measurement.FaultFloor"/>): the floor <see cref="FaultDbTransactions"/> is to be compared with.</summary>
    public long? FaultFloorTransactions { get; init; }

    /// <summary>Transactions of the clients' invalidation channel (NOTIFY, LISTEN checks) over the run, counted in its own
    /// database on the same server (<see cref="Clients.RedisTarget.ChannelDatabase"/>) and so not in the DB figures; null
    /// when no client used it.</summary>
    public long? ChannelTransactions { get; init; }

    /// <summary>Set when the two counts disagree by more than 10 % (and 50 queries): the DB figures are then suspect.</summary>
    public string? DbCountWarning { get; init; }

    /// <summary>The run's errors (refusals included) by cause, most frequent first; null when there were none
    /// (<see cref="Measurement.ErrorCauses"/>).</summary>
    public IReadOnlyList<ErrorCause>? ErrorsByCause { get; init; }

    /// <summary>The run's stale-after-invalidation reads one by one (the first <see cref="Measurement.StaleReadLog.MaxKept"/>);
    /// null when there were none.</summary>
    public IReadOnlyList<StaleRead>? StaleReads { get; init; }

    public static ClientRun NotRun(string client, string description, string status, string note) =>
        new(client, description, status, note, 0, 0, 0, null, null, null, null, null, 0, 0, null, null, null);
}

/// <summary>
/// What the fault and recovery windows cost when nothing failed: the same client run again on the same scenario, seed and
/// phases with no fault injected (<see cref="DrillOptions.Reference"/>). The seeded load makes the same requests at the
/// same seconds, so each figure is the faulted run's figure without the fault.
/// </summary>
/// <param name="FaultDbQueriesPerSec">PostgreSQL's mean transactions per second in the fault phase's seconds.</param>
/// <param name="FaultLastMinuteDbQueriesPerSec">The same over the fault phase's last 60 seconds.</param>
/// <param name="FaultP95Ms">p95 latency of the fault phase's requests.</param>
/// <param name="RecoveryDbQueriesPerSec">PostgreSQL's mean transactions per second in the recovery phase.</param>
/// <param name="RecoveryP95Ms">p95 latency of the recovery phase's requests.</param>
/// <param name="Errors">Failed requests over the whole run.</param>
/// <param name="StaleAfterInvalidation">Stale-after-invalidation reads over the whole run.</param>
internal sealed record ReferenceRun(
    double FaultDbQueriesPerSec,
    double FaultLastMinuteDbQueriesPerSec,
    double FaultP95Ms,
    double RecoveryDbQueriesPerSec,
    double RecoveryP95Ms,
    long Errors,
    long StaleAfterInvalidation)
{
    /// <summary>The reference figures of a healthy run; null when it did not run.</summary>
    public static ReferenceRun? Of(ClientRun healthy) => healthy is { Status: "ran", Fault: { } f, Recovery: { } r }
        ? new ReferenceRun(f.DbQueriesPerSec, healthy.FaultLastMinuteDbQueriesPerSec ?? f.DbQueriesPerSec, f.P95Ms, r.DbQueriesPerSec, r.P95Ms, healthy.Errors, healthy.StaleAfterInvalidation)
        : null;
}

/// <summary>Failed requests of one cause: how many, and the first and last second (by scheduled start) one was seen.</summary>
/// <param name="Cause">The exception's type and normalized message, or the drill's reason (refused, cut off).</param>
/// <param name="Count">Failed requests of this cause.</param>
/// <param name="FirstSecond">The second of the run the first of them was scheduled in.</param>
/// <param name="LastSecond">The second of the run the last of them was scheduled in.</param>
internal sealed record ErrorCause(string Cause, long Count, int FirstSecond, int LastSecond);

/// <summary>
/// One stale-after-invalidation read. Times are milliseconds since the start of the load. <see cref="RemovalReceivedMs"/>:
/// when the reading instance received the first removal of the key through its second invalidation channel at or after
/// <see cref="InvalidationStartedMs"/> (the removal of this write, unless a later write's came first), looked up after the
/// run, so it may be after the read; null when the client does not report receipts or none arrived. Redis' backplane is
/// not traced.
/// </summary>
/// <param name="Second">The second of the run the read was scheduled in.</param>
/// <param name="Key">The key read.</param>
/// <param name="Instance">The app instance that read it.</param>
/// <param name="Writer">The app instance whose write and invalidation the read came after.</param>
/// <param name="ReturnedVersion">The row version the read returned.</param>
/// <param name="InvalidatedVersion">The version whose invalidation had completed before the read began.</param>
/// <param name="InvalidationStartedMs">When the writer called the client's invalidation.</param>
/// <param name="InvalidatedMs">When that call returned.</param>
/// <param name="ReadStartedMs">When the read began.</param>
/// <param name="ReadEndedMs">When the read returned.</param>
/// <param name="RemovalReceivedMs">When the removal reached the reading instance (see above).</param>
internal sealed record StaleRead(
    int Second,
    string Key,
    int Instance,
    int Writer,
    long ReturnedVersion,
    long InvalidatedVersion,
    double InvalidationStartedMs,
    double InvalidatedMs,
    double ReadStartedMs,
    double ReadEndedMs,
    double? RemovalReceivedMs)
{
    /// <summary>The read began before the removal reached the reading instance: the removal's delivery delay.</summary>
    public const string BeforeArrival = "before-arrival";

    /// <summary>The read began after the removal had reached (and been applied by) the reading instance.</summary>
    public const string AfterArrival = "after-arrival";

    /// <summary>No removal of the key reached the reading instance through the second channel after the invalidation was
    /// called (or the client does not report receipts, as without a second channel).</summary>
    public const string NotReceived = "not-received";

    /// <summary>The reading instance made the write and the invalidation itself.</summary>
    public const string WritersInstance = "writers-instance";

    /// <summary>Which of <see cref="BeforeArrival"/>, <see cref="AfterArrival"/>, <see cref="NotReceived"/>, <see cref="WritersInstance"/>.</summary>
    public string Arrival => Instance == Writer ? WritersInstance
        : RemovalReceivedMs is not { } received ? NotReceived
        : received > ReadStartedMs ? BeforeArrival
        : AfterArrival;
}

/// <summary>
/// A phase's figures. Latency percentiles are over the phase's requests (by scheduled start, refused ones
/// excluded); <see cref="DbQueriesPerSec"/> is PostgreSQL's own count (pg_stat_database),
/// <see cref="DbQueriesPerSecClient"/> the clients' count of the same queries.
/// </summary>
internal sealed record PhaseBlock(
    int Seconds,
    long Requests,
    long Errors,
    double ErrorRate,
    double P50Ms,
    double P95Ms,
    double P99Ms,
    double MaxMs,
    double DbQueriesPerSec,
    double DbQueriesPerSecClient,
    double? PeakDbQueriesPerSec,
    int PeakDbPoolInUse,
    long StaleAfterInvalidation,
    long StaleAfterInvalidationLate = 0)
{
    /// <summary>
    /// Percentiles over every request of the phase, refused ones included, where an error or a refusal counts as a
    /// request that never got an answer: positive infinity (JSON <c>"Infinity"</c>) when more than 50/5/1 % failed.
    /// Beside <see cref="P95Ms"/>, this keeps a client that refuses fast from looking fast.
    /// </summary>
    public double P50MsFailuresCounted { get; init; }

    /// <inheritdoc cref="P50MsFailuresCounted"/>
    public double P95MsFailuresCounted { get; init; }

    /// <summary>The clients' database queries in the phase by origin (a request waited for it, background, warm-up,
    /// write: <see cref="Catalog.QueryOrigin"/>); null in reports made before it was counted.</summary>
    public QueryKindCounts? DbQueriesByKind { get; init; }

    /// <inheritdoc cref="P50MsFailuresCounted"/>
    public double P99MsFailuresCounted { get; init; }
}

/// <summary>
/// Sentinel's automatic failover during the fault: <see cref="Happened"/> when a <c>+switch-master</c> was
/// seen before the repair; <see cref="Seconds"/> from the fault to it. <see cref="ManualSwitchSeconds"/>:
/// from the repair to the new master when the repair had to promote one.
/// </summary>
internal sealed record FailoverInfo(bool Happened, double? Seconds, double? ManualSwitchSeconds);

/// <summary>One second of the run.</summary>
internal sealed record TimelinePoint(
    int Second,
    string Phase,
    long Requests,
    long Errors,
    long Refused,
    double P50Ms,
    double P95Ms,
    double P99Ms,
    long DbQueries,
    long DbQueriesClient,
    int DbPoolInUse,
    int DbPoolWaiting,
    int InFlight,
    int BreakerOpen,
    string L2,
    long StaleServed,
    long StaleAfterInvalidation,
    long StaleAfterInvalidationLate = 0,
    QueryKindCounts? DbByKind = null);
