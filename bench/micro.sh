#!/usr/bin/env bash
# BenchmarkDotNet micro-benchmarks of the gateway's per-request pieces (bench/Gateway.Benchmarks).
#   bench/micro.sh                      every benchmark, short job (~3-5 minutes on 2 cores)
#   bench/micro.sh --filter '*Login*'   extra arguments go to BenchmarkDotNet (they replace the default filter)
# Results: bench/results/micro-<timestamp>/ (BenchmarkDotNet's reports: *.md, *.csv, *.html)
# and the Markdown tables concatenated into bench/results/micro-latest.md.
set -euo pipefail
cd "$(dirname "$0")/.."

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
artifacts="bench/results/micro-$stamp"
mkdir -p "$artifacts"

dotnet build bench/Gateway.Benchmarks/Gateway.Benchmarks.csproj -c Release -nologo -v quiet

args=("$@")
if [ ${#args[@]} -eq 0 ]; then
  args=(--filter '*')
fi

dotnet bench/Gateway.Benchmarks/bin/Release/net10.0/Gateway.Benchmarks.dll \
  --job short --artifacts "$artifacts" "${args[@]}"

{
  echo "# Micro-benchmarks ($stamp)"
  echo
  echo "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), .NET SDK $(dotnet --version); BenchmarkDotNet short job."
  for report in "$artifacts"/results/*-report-github.md; do
    [ -f "$report" ] || continue
    echo
    echo "## $(basename "$report" -report-github.md | sed 's/^Gateway\.Benchmarks\.//')"
    echo
    # Drop BenchmarkDotNet's environment preamble (the code block); keep the table.
    awk '/^```/{skip=!skip; next} !skip' "$report" | sed -e "s/&#39;/'/g" -e '/^$/N;/^\n$/D'
  done
} > bench/results/micro-latest.md
echo
echo "micro.sh: reports in $artifacts/results, summary in bench/results/micro-latest.md"
