using System.CommandLine;
using Levee.Cli;

// The `levee` tool: parses, calls Levee.Doctor / Levee.Drill, prints. No logic lives here.
// Ctrl+C / SIGTERM cancel the command's token; the process then waits for it to end (System.CommandLine's default, 2 s,
// is shorter than a drill's teardown: the process would exit before its Redis, Sentinel and PostgreSQL processes and temp
// folders were cleaned up)
var invocation = new InvocationConfiguration { ProcessTerminationTimeout = TimeSpan.FromSeconds(60) };
return await LeveeCommand.RunAsync(args, invocation).ConfigureAwait(false);
