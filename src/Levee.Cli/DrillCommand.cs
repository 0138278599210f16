using System.CommandLine;

namespace Levee.Cli;

internal static class DrillCommand
{
    public static Command Create()
    {
        var command = new Command("drill", "Reproduce Redis failures against real processes and measure what users and the database saw");
        return command;
    }
}
