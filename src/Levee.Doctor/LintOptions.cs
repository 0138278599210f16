namespace Levee.Doctor;

/// <summary>Options for <see cref="DoctorLinter"/>.</summary>
public sealed class LintOptions
{
    /// <summary>
    /// How many Sentinels run, when the files given do not show it (one shared sentinel.conf without
    /// known-sentinel lines). Default <c>null</c>: count the Sentinel configs given (a ConfigMap counts as the
    /// replicas of the workload that mounts it). Must be ≥ 1 when set.
    /// </summary>
    public int? Sentinels { get; init; }
}
