using System.CommandLine;
using Levee.Cli;

// The `levee` tool: parses, calls Levee.Doctor / Levee.Drill, prints. No logic lives here.
var root = new RootCommand("levee: Redis HA doctor and failure drills for services that cache in Redis");
root.Subcommands.Add(DoctorCommand.Create());
root.Subcommands.Add(DrillCommand.Create());
return await root.Parse(args).InvokeAsync().ConfigureAwait(false);
