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
    /// <summary>
    /// The rule's section of <c>docs/doctor.md</c> on the web, an absolute and stable URL (for example
    /// <c>https://github.com/levee-cache/levee/blob/main/docs/doctor.md#s001</c>); offline: <c>levee doctor explain S001</c>.
    /// </summary>
    public string HelpUri => RuleDocs.Url(Id);
}
