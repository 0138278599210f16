using Npgsql;

namespace Levee.PostgreSql;

/// <summary>
/// Removals that commit with the application's own write: a <c>pg_notify</c> issued inside its transaction, which
/// PostgreSQL delivers when the transaction commits and never when it rolls back. Every cache instance listening on the
/// channel drops its L1 copy, refuses Redis entries older than the notification, and deletes such an entry on the
/// Redis master (when it answers; while it does not, the removal is kept until it does). A crash between the commit and
/// a later <c>RemoveAsync</c> can no longer leave the old value cached: no <c>RemoveAsync</c> is needed.
/// </summary>
/// <example><code>
/// await using var tx = await connection.BeginTransactionAsync(ct);
/// await using (var update = new NpgsqlCommand("UPDATE product SET price = $1 WHERE id = $2", connection, tx)) { ... }
/// await LeveePostgreSql.RemoveInTransactionAsync(tx, "product:" + id, cancellationToken: ct);
/// await tx.CommitAsync(ct); // the removal goes out now, and only now
/// </code></example>
public static class LeveePostgreSql
{
    /// <summary>
    /// Queues the removal of <paramref name="key"/> in <paramref name="transaction"/>: sent to every instance listening
    /// on <paramref name="channel"/> when the transaction commits, never when it rolls back.
    /// </summary>
    /// <exception cref="ArgumentException">The key is empty, or too long for a NOTIFY payload (8,000 bytes once encoded).</exception>
    public static Task RemoveInTransactionAsync(NpgsqlTransaction transaction, string key, string channel = LeveePostgreSqlOptions.DefaultChannel,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(transaction);
        return RemoveAsync(transaction.Connection ?? throw new InvalidOperationException("The transaction is completed."), key, transaction, channel, cancellationToken);
    }

    /// <summary>
    /// Sends the removal of <paramref name="key"/> on <paramref name="connection"/>: inside <paramref name="transaction"/>
    /// (delivered on commit) or, without one, at once.
    /// </summary>
    /// <exception cref="ArgumentException">The key is empty, or too long for a NOTIFY payload (8,000 bytes once encoded).</exception>
    public static async Task RemoveAsync(NpgsqlConnection connection, string key, NpgsqlTransaction? transaction = null,
        string channel = LeveePostgreSqlOptions.DefaultChannel, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentException.ThrowIfNullOrEmpty(key);
        NotifyPayload.ValidateChannel(channel);

        // no sender, no time (each receiver uses the time it receives it: the commit happened before that), and not
        // applied to Redis: the receivers delete an older entry there themselves
        var payload = NotifyPayload.Format(new LeveeInvalidation { Kind = LeveeInvalidationKind.Remove, Subject = key });
        if (!NotifyPayload.Fits(payload))
        {
            throw new ArgumentException($"The key is too long for a NOTIFY payload (it must encode to fewer than {NotifyPayload.MaxBytes} bytes).", nameof(key));
        }

        await using var command = new NpgsqlCommand("SELECT pg_notify($1, $2)", connection, transaction);
        command.Parameters.Add(new NpgsqlParameter { Value = channel });
        command.Parameters.Add(new NpgsqlParameter { Value = payload });
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }
}
