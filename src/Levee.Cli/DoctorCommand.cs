using System.CommandLine;

namespace Levee.Cli;

internal static class DoctorCommand
{
    public static Command Create()
    {
        var command = new Command("doctor", "Find Redis Sentinel/Cluster misconfigurations in files and live deployments");
        return command;
    }
}
