#!/usr/bin/env bash
# Packs every Levee package, then lists the files and their sizes:
#   Levee, Levee.PostgreSql   libraries (.nupkg + .snupkg symbols, SourceLink, package validation, package readme)
#   Levee.Cli                 the `levee` tool: a small package that points at one package per platform
#                             (Levee.Cli.<rid>), which `dotnet tool install` picks (docs/release.md)
# Usage: scripts/pack.sh [OUTPUT_DIR] [dotnet pack options...]    (default OUTPUT_DIR: artifacts/packages)
#   scripts/pack.sh artifacts/packages -p:VersionSuffix=rc.1
# Builds in Release, in place (src/*/bin, src/*/obj), as the repository's other scripts do. The version is
# VersionPrefix in Directory.Build.props; each assembly's informational version adds the commit (1.0.0+<sha>).
# MAXCPU (default 2) is passed to -maxcpucount.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$root/artifacts/packages}"
[ $# -gt 0 ] && shift
mkdir -p "$out"
out="$(cd "$out" && pwd)"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

# a package left from an earlier version or commit would be listed (and pushed) with the new ones
rm -f "$out"/Levee.*nupkg

for project in src/Levee/Levee.csproj src/Levee.PostgreSql/Levee.PostgreSql.csproj src/Levee.Cli/Levee.Cli.csproj; do
  echo "pack.sh: packing $project" >&2
  # --disable-build-servers: no MSBuild node or compiler server stays behind (the pack test runs this script)
  dotnet pack "$root/$project" -c Release -o "$out" --disable-build-servers -maxcpucount:"${MAXCPU:-2}" -nologo -v q "$@" >&2
done

echo "packages in $out:"
(cd "$out" && for f in $(ls Levee.*nupkg | sort); do printf '%12s bytes  %s\n' "$(stat -c %s "$f")" "$f"; done)
