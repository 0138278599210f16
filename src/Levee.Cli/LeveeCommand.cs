using System.CommandLine;
using System.CommandLine.Parsing;

namespace Levee.Cli;

/// <summary>
/// The <c>levee</c> root command and its one entry point, used by <c>Program.cs</c> and in-process by the tests.
/// Bad usage (an unknown command, a missing or malformed value, a value an option's validator refuses) is exit code 2
/// for every command, as documented; System.CommandLine's own handling would print the help and exit 1, which
/// <c>levee doctor</c> uses for "errors found".
/// </summary>
internal static class LeveeCommand
{
    /// <summary>The root command with <c>doctor</c>, <c>drill</c> and <c>sandbox</c>.</summary>
    public static RootCommand Create()
    {
        var root = new RootCommand("levee: Redis HA doctor and failure drills for services that cache in Redis");
        root.Subcommands.Add(DoctorCommand.Create());
        root.Subcommands.Add(DrillCommand.Create());
        root.Subcommands.Add(SandboxCommand.Create());
        return root;
    }

    /// <summary>
    /// Parses <paramref name="args"/> and runs the command; on a usage error writes
    /// "<c>levee COMMAND: message</c>" lines and a pointer to the command's help to
    /// <see cref="InvocationConfiguration.Error"/> and returns 2.
    /// </summary>
    public static async Task<int> RunAsync(string[] args, InvocationConfiguration invocation, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(invocation);
        var parsed = Create().Parse(args);
        if (parsed.Errors.Count > 0)
        {
            var error = invocation.Error;
            var command = CommandPath(parsed.CommandResult);
            foreach (var e in parsed.Errors)
            {
                await error.WriteLineAsync($"{command}: {e.Message}").ConfigureAwait(false);
            }

            await error.WriteLineAsync($"levee: see '{command} --help'").ConfigureAwait(false);
            return 2;
        }

        return await parsed.InvokeAsync(invocation, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>"levee doctor lint" for the command a parse stopped in.</summary>
    private static string CommandPath(CommandResult result)
    {
        var names = new List<string>();
        for (SymbolResult? r = result; r is not null; r = r.Parent)
        {
            if (r is CommandResult c)
            {
                names.Insert(0, c.Command is RootCommand ? "levee" : c.Command.Name);
            }
        }

        return string.Join(' ', names);
    }
}
