#!/usr/bin/env bash
# The project's one test command (README "Quick start"; .ci/run calls exactly this).
# Installs what the tests need when it is missing (redis-server, chromium, chromium-driver),
# then runs every test in Gateway.sln. GATEWAY_SCREENSHOTS=docs/ui saves the browser tests'
# screenshots there (not done on normal runs).
# Extra arguments go to `dotnet test` (e.g. --filter FullyQualifiedName~HotReload).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
# Browser tests (tests/Gateway.Tests/Pages) drive a real headless Chromium through chromedriver.
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
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
# Name every failed test with the start of its message, last, so that a log cut to
# its tail still says what broke.
if [ "$failed" -gt 0 ]; then
  echo "Failed tests:"
  for trx in "$results"/*.trx "$results"/*/*.trx; do
    [ -f "$trx" ] || continue
    awk '
      /<UnitTestResult / && /outcome="Failed"/ {
        match($0, /testName="[^"]*"/); name = substr($0, RSTART + 10, RLENGTH - 11)
        gsub(/&quot;/, "\"", name); gsub(/&amp;/, "\\&", name)
        print "  - " name; inFailed = 1; next
      }
      /<UnitTestResult / { inFailed = 0 }
      inFailed && /<Message>/ { inMessage = 1; lines = 0 }
      inFailed && inMessage {
        line = $0; sub(/^[ \t]*/, "", line); gsub(/<\/?Message>/, "", line); gsub(/&lt;/, "<", line); gsub(/&gt;/, ">", line)
        gsub(/&quot;/, "\"", line); gsub(/&apos;/, "\047", line); gsub(/&amp;/, "\\&", line)
        if (lines++ < 12) print "      " line
      }
      inMessage && /<\/Message>/ { inMessage = 0 }
    ' "$trx"
  done
fi
echo "${passed} passed, ${failed} failed, ${skipped} skipped"
if [ "$status" -eq 0 ] && [ "$passed" -eq 0 ]; then
  echo "tests/run.sh: no test ran" >&2
  exit 1
fi
exit "$status"
