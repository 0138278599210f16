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
return await root.Parse(args).InvokeAsync(invocation).ConfigureAwait(false);
