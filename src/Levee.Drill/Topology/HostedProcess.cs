using System.Diagnostics;

namespace Levee.Drill.Topology;

/// <summary>
/// One child process started by a <see cref="ProcessHost"/>, with its PID recorded in
/// <c>&lt;root&gt;/&lt;name&gt;.pid</c> while it runs. Fault helpers send real signals.
/// </summary>
public sealed class HostedProcess
{
    private readonly Process _process;
    private volatile bool _frozen;

    internal HostedProcess(string name, Process process, string logFile, string pidFile)
    {
        Name = name;
        _process = process;
        Pid = process.Id;
        LogFile = logFile;
        PidFile = pidFile;
    }

    /// <summary>The name given at start (also the PID file's name).</summary>
    public string Name { get; }

    /// <summary>The operating-system process id.</summary>
    public int Pid { get; }

    /// <summary>The file that receives the process' stdout and stderr.</summary>
    public string LogFile { get; }

    /// <summary>The file holding <see cref="Pid"/> while the process runs.</summary>
    public string PidFile { get; }

    /// <summary>True once the process has exited (and was reaped).</summary>
    public bool HasExited => _process.HasExited;

    /// <summary>The exit code once the process has exited (128 + signal for a killed one), else null.</summary>
    public int? ExitCode => _process.HasExited ? _process.ExitCode : null;

    /// <summary>True after <see cref="Freeze"/> and before <see cref="Thaw"/> or exit.</summary>
    public bool IsFrozen => _frozen && !HasExited;

    /// <summary>Sends SIGKILL (also to a frozen process) and waits up to 10 s for it to exit.</summary>
    public void Kill()
    {
        if (_process.HasExited)
        {
            return;
        }

        Signals.Send(Pid, Signals.SigKill);
        Signals.Send(Pid, Signals.SigCont);
        _frozen = false;
        if (!_process.WaitForExit(TimeSpan.FromSeconds(10)))
        {
            throw new TopologyException($"{Name} (pid {Pid}) did not exit within 10 s of SIGKILL");
        }
    }

    /// <summary>Sends SIGSTOP: the process keeps its sockets open but answers nothing (a silent host).</summary>
    public void Freeze()
    {
        ThrowIfExited();
        Signals.Send(Pid, Signals.SigStop);
        _frozen = true;
    }

    /// <summary>Sends SIGCONT to a frozen process.</summary>
    public void Thaw()
    {
        ThrowIfExited();
        Signals.Send(Pid, Signals.SigCont);
        _frozen = false;
    }

    /// <summary>Waits until the process exits; false when <paramref name="timeout"/> passed first.</summary>
    public async Task<bool> WaitForExitAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return _process.HasExited;
        }
    }

    /// <inheritdoc />
    public override string ToString() => $"{Name} (pid {Pid}, log {LogFile})";

    internal void ThrowIfExited()
    {
        if (_process.HasExited)
        {
            throw new InvalidOperationException($"{Name} (pid {Pid}) has exited; see {LogFile}");
        }
    }
}
