#!/usr/bin/env bash
# The project's one test command (README "Quick start"; .ci/run calls exactly this).
# Installs what the tests need when it is missing, then runs every test in Gateway.sln.
# Extra arguments go to `dotnet test` (e.g. --filter FullyQualifiedName~HotReload).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "tests/run.sh: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "tests/run.sh: missing ${missing[*]}; install with: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

results="$(mktemp -d)"
status=0
dotnet test Gateway.sln -c Release \
  --logger "console;verbosity=normal" \
  --logger "trx;LogFileName=results.trx" \
  --results-directory "$results" "$@" || status=$?

# One plain summary line over all test projects.
passed=0; failed=0; skipped=0
for trx in "$results"/*.trx "$results"/*/*.trx; do
  [ -f "$trx" ] || continue
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -n1)
  p=$(sed -E 's/.* passed="([0-9]+)".*/\1/' <<<"$counters")
  f=$(sed -E 's/.* failed="([0-9]+)".*/\1/' <<<"$counters")
  t=$(sed -E 's/.* total="([0-9]+)".*/\1/' <<<"$counters")
  e=$(sed -E 's/.* executed="([0-9]+)".*/\1/' <<<"$counters")
  passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + t - e))
done
echo "${passed} passed, ${failed} failed, ${skipped} skipped"
if [ "$status" -eq 0 ] && [ "$passed" -eq 0 ]; then
  echo "tests/run.sh: no test ran" >&2
  exit 1
fi
exit "$status"
