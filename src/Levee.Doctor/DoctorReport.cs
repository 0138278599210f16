namespace Levee.Doctor;

/// <summary>The result of a lint or a live check: findings plus the topology that was learned.</summary>
public sealed class DoctorReport
{
    /// <summary>Creates a report.</summary>
    /// <param name="findings">The findings, in any order (they are sorted by file, line, rule).</param>
    /// <param name="masters">Per-master failover arithmetic.</param>
    /// <param name="unusableInput">True when some input could not be used at all (missing or binary file, nothing reachable).</param>
    public DoctorReport(IEnumerable<Finding> findings, IEnumerable<MasterTopology> masters, bool unusableInput)
    {
        ArgumentNullException.ThrowIfNull(findings);
        ArgumentNullException.ThrowIfNull(masters);
        Findings = findings
            .OrderBy(f => f.File ?? string.Empty, StringComparer.Ordinal)
            .ThenBy(f => f.Line)
            .ThenByDescending(f => f.Severity)
            .ThenBy(f => f.RuleId, StringComparer.Ordinal)
            .ToList();
        Masters = masters.OrderBy(m => m.Name, StringComparer.Ordinal).ToList();
        UnusableInput = unusableInput;
    }

    /// <summary>Findings sorted by file, line, severity (worst first) and rule id.</summary>
    public IReadOnlyList<Finding> Findings { get; }

    /// <summary>Failover arithmetic per monitored master, sorted by name.</summary>
    public IReadOnlyList<MasterTopology> Masters { get; }

    /// <summary>True when some input could not be used at all; the exit code is then 2.</summary>
    public bool UnusableInput { get; }

    /// <summary>Number of findings with <paramref name="severity"/>.</summary>
    /// <param name="severity">The severity to count.</param>
    /// <returns>The count.</returns>
    public int Count(Severity severity) => Findings.Count(f => f.Severity == severity);

    /// <summary>The documented exit code: 2 unusable input, 1 at least one error (or warning with <paramref name="strict"/>), else 0.</summary>
    /// <param name="strict">Treat warnings as errors.</param>
    /// <returns>0, 1 or 2.</returns>
    public int ExitCode(bool strict)
    {
        if (UnusableInput)
        {
            return 2;
        }

        if (Count(Severity.Error) > 0 || (strict && Count(Severity.Warning) > 0))
        {
            return 1;
        }

        return 0;
    }
}
