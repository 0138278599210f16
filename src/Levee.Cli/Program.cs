using System.CommandLine;
using Levee.Cli;

// The `levee` tool: parses, calls Levee.Doctor / Levee.Drill, prints. No logic lives here.
var root = new RootCommand("levee: Redis HA doctor and failure drills for services that cache in Redis");
root.Subcommands.Add(DoctorCommand.Create());
root.Subcommands.Add(DrillCommand.Create());
// Ctrl+C / SIGTERM cancel the command's token; the process then waits for it to end (System.CommandLine's default, 2 s,
// is shorter than a drill's teardown: the process would exit before its Redis, Sentinel and PostgreSQL processes and temp
// folders were cleaned up)
var invocation = new InvocationConfiguration { ProcessTerminationTimeout = TimeSpan.FromSeconds(60) };
var parsed = root.Parse(args);
if (parsed.Errors.Count > 0)
{
    // bad usage (an unknown command, a missing or malformed value) is exit code 2 for every command, as documented;
    // System.CommandLine's own handling would print the help and exit 1, which `levee doctor` uses for "errors found"
    foreach (var error in parsed.Errors)
    {
        await Console.Error.WriteLineAsync($"levee: {error.Message}").ConfigureAwait(false);
    }

    await Console.Error.WriteLineAsync("levee: see 'levee --help' (or 'levee <command> --help')").ConfigureAwait(false);
    return 2;
}

return await parsed.InvokeAsync(invocation).ConfigureAwait(false);
