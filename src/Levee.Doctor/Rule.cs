namespace Levee.Doctor;

/// <summary>A lint rule: its stable id, default severity, and the text shown with each finding.</summary>
/// <param name="Id">Stable id, for example <c>T002</c>.</param>
/// <param name="Severity">Default severity.</param>
/// <param name="Title">One-line name.</param>
/// <param name="Why">Why it matters.</param>
/// <param name="Fix">The usual fix.</param>
/// <param name="Source">Where the behaviour is defined (file and function in Redis' source, or its docs).</param>
public sealed record Rule(string Id, Severity Severity, string Title, string Why, string Fix, string Source)
{
    /// <summary>The rule's anchor in <c>docs/doctor.md</c>.</summary>
    public string HelpUri => "docs/doctor.md#" + Id.ToLowerInvariant();
}
