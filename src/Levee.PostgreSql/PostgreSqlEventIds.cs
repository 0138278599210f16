namespace Levee.PostgreSql;

/// <summary>
/// The event ids of the PostgreSQL channel's log messages (category <c>Levee.PostgreSql</c>), named. The numbers are
/// stable: users filter by them, so a message keeps its id and an id is never reused.
/// </summary>
internal static class PostgreSqlEventIds
{
    public const int Listening = 1;
    public const int ListenFailed = 2;
    public const int NotifyFailed = 3;
    public const int Oversized = 4;
    public const int BadPayload = 5;
}
