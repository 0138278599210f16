using Levee.Doctor;
using Spectre.Console;

namespace Levee.Cli;

/// <summary>Renders a <see cref="DoctorReport"/> as readable tables (colours only when writing to a terminal).</summary>
internal static class DoctorTextWriter
{
    /// <summary>Width used when the output is not a terminal, so that text output is stable (snapshot tests, CI logs).</summary>
    public const int PlainWidth = 140;

    public static void Write(DoctorReport report, TextWriter output, bool terminal, string subject)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(output),
            Ansi = terminal ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = terminal ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
        });
        if (!terminal)
        {
            console.Profile.Width = PlainWidth;
        }

        if (report.Masters.Count > 0)
        {
            var topo = new Table { Border = TableBorder.Rounded, Title = new TableTitle("Sentinel failover arithmetic") };
            topo.AddColumns("Master", "Address", "Sentinels", "Voters", "Quorum", "Majority", "Tolerated failures");
            foreach (var c in topo.Columns.Skip(2))
            {
                c.RightAligned();
            }

            foreach (var m in report.Masters)
            {
                var tolerated = m.ToleratedSentinelFailures.ToString(System.Globalization.CultureInfo.InvariantCulture);
                topo.AddRow(
                    new Text(m.Name),
                    new Text(m.MasterAddress ?? "-"),
                    new Text(m.SentinelsAssumed ? $"{N(m.Sentinels)} (assumed)" : N(m.Sentinels)),
                    new Text(N(m.Voters)),
                    new Text(N(m.Quorum)),
                    new Text(N(m.Majority)),
                    new Markup(m.ToleratedSentinelFailures < 1 ? $"[bold red]{tolerated}[/]" : $"[green]{tolerated}[/]"));
            }

            console.Write(topo);
        }

        if (report.Findings.Count > 0)
        {
            // Location, problem and fix share one wide column, so the table stays readable at 80 columns.
            var table = new Table { Border = TableBorder.Rounded, Title = new TableTitle("Findings") };
            table.AddColumn(new TableColumn("Severity").NoWrap());
            table.AddColumn(new TableColumn("Rule").NoWrap());
            table.AddColumn(new TableColumn("Where, problem and fix"));
            foreach (var f in report.Findings)
            {
                table.AddRow(
                    SeverityCell(f.Severity),
                    new Text(f.RuleId),
                    new Rows(
                        new Markup("[bold]" + Markup.Escape(f.Location) + "[/]"),
                        new Text(f.Message),
                        new Markup("[dim]fix:[/] " + Markup.Escape(f.Fix))));
            }

            console.Write(table);

            // One pointer per rule, not per finding: offline (the docs are in the tool) and on the web.
            console.MarkupLine("[dim]Read about a rule:[/]");
            foreach (var rule in report.Findings.Select(f => f.RuleId).Distinct(StringComparer.Ordinal))
            {
                var url = Markup.Escape(Rules.Get(rule).HelpUri);
                console.MarkupLine($"  levee doctor explain {Markup.Escape(rule)}   [link={url}]{url}[/]");
            }
        }

        var errors = report.Count(Severity.Error);
        var warnings = report.Count(Severity.Warning);
        var info = report.Count(Severity.Info);
        console.MarkupLine(
            $"{Markup.Escape(subject)}: {(errors > 0 ? "[bold red]" : "[green]")}{errors} error{(errors == 1 ? string.Empty : "s")}[/], " +
            $"{(warnings > 0 ? "[yellow]" : string.Empty)}{warnings} warning{(warnings == 1 ? string.Empty : "s")}{(warnings > 0 ? "[/]" : string.Empty)}, {info} info");
    }

    private static string N(int value) => value.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static Markup SeverityCell(Severity s) => s switch
    {
        Severity.Error => new Markup("[bold red]error[/]"),
        Severity.Warning => new Markup("[yellow]warning[/]"),
        _ => new Markup("[blue]info[/]"),
    };
}
