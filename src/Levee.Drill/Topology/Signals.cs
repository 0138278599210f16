using System.Runtime.InteropServices;

namespace Levee.Drill.Topology;

/// <summary>POSIX signals sent to child processes (Linux numbering).</summary>
internal static partial class Signals
{
    public const int SigKill = 9;
    public const int SigCont = 18;
    public const int SigStop = 19;

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
#pragma warning disable SYSLIB1054 // LibraryImport needs unsafe blocks; two ints marshal trivially.
    private static extern int NativeKill(int pid, int signal);
#pragma warning restore SYSLIB1054

    /// <summary>Sends <paramref name="signal"/>; returns false when the process does not exist.</summary>
    public static bool Send(int pid, int signal)
    {
        if (pid <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(pid), pid, "refusing to signal a process group");
        }

        return NativeKill(pid, signal) == 0;
    }

    /// <summary>True when <paramref name="pid"/> exists and is not a zombie.</summary>
    public static bool IsAlive(int pid)
    {
        if (pid <= 0 || NativeKill(pid, 0) != 0)
        {
            return false;
        }

        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith("State:", StringComparison.Ordinal))
                {
                    return !line.Contains("(zombie)", StringComparison.Ordinal) && !line.Contains("(dead)", StringComparison.Ordinal);
                }
            }
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return true;
        }

        return true;
    }
}
