namespace Levee.Doctor;

/// <summary>One problem found in a config file or a live deployment.</summary>
/// <param name="RuleId">Stable rule id (for example <c>T002</c>); documented in <c>docs/doctor.md</c> under the anchor of the same name in lower case (<see cref="RuleDocs"/>).</param>
/// <param name="Severity">How bad it is.</param>
/// <param name="File">The file the finding points at (as given on the command line), or a live endpoint such as <c>127.0.0.1:26379</c>; <c>null</c> for deployment-wide findings.</param>
/// <param name="Line">1-based line in <paramref name="File"/>, or 0 when there is no line.</param>
/// <param name="Message">What is wrong, with the values involved.</param>
/// <param name="Fix">What to change.</param>
public sealed record Finding(string RuleId, Severity Severity, string? File, int Line, string Message, string Fix)
{
    /// <summary>The rule's title from <see cref="Rules"/>.</summary>
    public string Title => Rules.Get(RuleId).Title;

    /// <summary>Why the rule matters, from <see cref="Rules"/>.</summary>
    public string Why => Rules.Get(RuleId).Why;

    /// <summary>The rule's section of <c>docs/doctor.md</c> on the web, for example <c>https://github.com/levee-cache/levee/blob/main/docs/doctor.md#t002</c>.</summary>
    public string HelpUri => Rules.Get(RuleId).HelpUri;

    /// <summary><c>file:line</c>, <c>file</c>, or <c>-</c>.</summary>
    public string Location => File is null ? "-" : Line > 0 ? $"{File}:{Line}" : File;
}
