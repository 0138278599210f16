using Levee.Drill.Topology;

namespace Levee.Tests.Redis;

/// <summary>
/// A test class with its own redis-server: started on a free loopback port before the first test (in a temp folder,
/// PID recorded by the drill's launcher) and always stopped after the last one, also when a test fails.
/// </summary>
public abstract class RedisServerTest : IAsyncLifetime
{
    private ProcessHost _host = null!;

    /// <summary>The class's redis-server.</summary>
    protected RedisNode Redis { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        _host = new ProcessHost();
        Redis = await _host.StartRedisAsync();
        await OnStartedAsync();
    }

    public async Task DisposeAsync()
    {
        try
        {
            await OnStoppingAsync();
        }
        finally
        {
            await _host.DisposeAsync();
        }
    }

    /// <summary>Set-up that needs the server (users, passwords).</summary>
    protected virtual Task OnStartedAsync() => Task.CompletedTask;

    /// <summary>Runs before the server is stopped (diagnostics).</summary>
    protected virtual Task OnStoppingAsync() => Task.CompletedTask;
}
