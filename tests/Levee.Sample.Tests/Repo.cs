namespace Levee.Sample.Tests;

/// <summary>The repository checkout and the build outputs next to this test's, found from the test binary's folder.</summary>
internal static class Repo
{
    public static string Root { get; } = FindRoot();

    /// <summary>"Release" or "Debug": the configuration this test assembly was built in (bin/CONFIG/net10.0).</summary>
    public static string Configuration { get; } = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)).Parent!.Name;

    /// <summary>The built <c>project</c>.dll under <c>folder/project/bin/CONFIG/net10.0</c>; fails when it is not built.</summary>
    public static string BuiltDll(string folder, string project)
    {
        var dll = Path.Combine(Root, folder, project, "bin", Configuration, "net10.0", project + ".dll");
        Assert.True(File.Exists(dll), $"{dll} is missing: build the solution (dotnet build Levee.slnx -c {Configuration}) first");
        return dll;
    }

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Levee.slnx")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException($"Levee.slnx not found above {AppContext.BaseDirectory}");
    }
}
