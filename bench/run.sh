#!/usr/bin/env bash
# Side-by-side load benchmark: one command, on this machine, with wrk.
#
#   A        the sample tenant app directly
#   B        bare YARP (bench/BareYarp) with the gateway's routes and forwarder settings
#   C        the gateway, ordinary traffic (Host: acme.localhost, no credentials)
#   D-basic  the gateway, support session jill$john over HTTP Basic, deny-config grant
#   D-token  the gateway, the same support session as a session token (Bearer)
#   D′       like D-basic on a second gateway whose grant cache is cold
#            (Grants:CacheSafetyTtl=1 ms), so every request reads Redis
#   C-flood  C on a third gateway, alone and beside a flood of failed support logins from many
#            client addresses (it trusts 127.0.0.1 as its proxy), with a revocation mid-flood
#   W        support writes: PUT /api/settings/bench (a config route) as jill$john on tenant globex,
#            under a grant without denyConfig; each one waits for its write-ahead audit record
#            (written and fsynced, group-committed) before it is forwarded (Audit:WriteAhead=writes)
#   W-off    the same PUTs on a third gateway with Audit:WriteAhead=off: W against W-off is the
#            write-ahead's cost. Both run at 1 KB only (their body is always {"value":"bench"}).
#   D-notel  D-basic on a gateway with Telemetry:Enabled=false (nothing listens to its meters):
#            D-basic against D-notel is what telemetry costs the support path
#   D-sbind  D-basic on a gateway with Support:IdentityTokenBinding=session: the backend identity
#            token is reused per identity instead of signed per request (ES256); D-basic against
#            D-sbind is what binding the token to its request costs
#
# GET /download?bytes=N (a data-class route, allowed by a denyData=false grant) for each
# payload × connection count; a warm-up per target; BENCH_REPEATS rounds that alternate the
# order of the targets; the median of the rounds. Then a low-load round (-c BENCH_LOW_CONNS,
# 1 KB) for p99 at low load: wrk cannot pace requests at a fixed rate (wrk2 is not packaged),
# so "p99 at 50 % of B's max rate" is approximated by p99 at a small fixed connection count.
#
# Settings (environment):
#   BENCH_DURATION=5s    per run          BENCH_REPEATS=3     rounds (median taken)
#   BENCH_WARMUP_MAX=60  warm-up per target: 2 s runs (1 KB, 32 connections) until the target's JIT has
#                        compiled at most 5 methods during the run and the rate is within 5 % of the
#                        run before (at most this many seconds), then 1 s of each other payload.
#                        Tiered JIT with dynamic PGO takes 15-25 s under load on 2 cores for the
#                        gateway; a warm-up that stopped at a settled-looking rate measured it mid-JIT.
#   BENCH_PAYLOADS="10 1024 102400"       BENCH_CONNECTIONS="16 32 64"
#   BENCH_LOW_CONNS=4    low-load round (0: skip it)
#   BENCH_QUICK=1        smoke run: 1 KB × 32 connections × 1 round × 2s, low-load round 2s
#   BENCH_GATEWAY_ARGS   extra arguments for both gateways (e.g. "--Support:BackendTokenLifetime=00:05:00")
#   BENCH_FLOOD=1        login-flood arm (0: skip); BENCH_FLOOD_RATE=2000 failed logins/s over
#                        BENCH_FLOOD_ATTACKERS=64 connections,
#                        BENCH_FLOOD_CONNS=8 and BENCH_FLOOD_DURATION=10s for C measured beside them,
#                        BENCH_FLOOD_ROUNDS=3 rounds of "alone" then "beside" (medians reported)
#   BENCH_DOTNET_GC      unset: each app's default (server GC); "workstation" or "server" forces it for all
#   BENCH_PROFILE        e.g. "B C D-basic D-token": instead of the table, a CPU profile of each listed
#                        target's proxy process (perf record -g at 999 Hz while wrk runs 1 KB × 32
#                        connections for BENCH_PROFILE_DURATION, default 10s; .NET frames named through
#                        DOTNET_PerfMapEnabled), plus allocation by type sampled by the GC probe
#                        (BENCH_ALLOC_PROFILE) → bench/results/profile-<timestamp>.md and profile-latest.md
# Output: bench/results/<timestamp>.json (every run), bench/results/<timestamp>.md and
# bench/results/latest.md (the table, also printed). Exit status non-zero when anything failed,
# including a target answering with an error status (wrk's "Non-2xx or 3xx responses") or
# socket errors. A default run takes ~25 minutes here (162 load runs of 5 s, the low-load round,
# warm-ups, builds); BENCH_QUICK=1 about 4 (the warm-ups dominate).
set -euo pipefail
cd "$(dirname "$0")/.."

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

# --- settings -----------------------------------------------------------------------------------
duration="${BENCH_DURATION:-5s}"
repeats="${BENCH_REPEATS:-3}"
warmup_max="${BENCH_WARMUP_MAX:-60}"
payloads="${BENCH_PAYLOADS:-10 1024 102400}"
connections="${BENCH_CONNECTIONS:-16 32 64}"
low_conns="${BENCH_LOW_CONNS:-4}"
low_duration="$duration"
if [ "${BENCH_QUICK:-0}" = "1" ]; then
  duration="2s"; repeats=1; payloads="1024"; connections="32"; low_duration="2s"
fi
[ -n "${BENCH_PROFILE:-}" ] && payloads="1024"
targets=(A B C D-basic D-token "D′" W W-off D-notel D-sbind)
wrk_threads=2

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

# --- tools ----------------------------------------------------------------------------------------
missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
command -v curl >/dev/null 2>&1 || missing+=(curl)
if [ -n "${BENCH_PROFILE:-}" ]; then command -v perf >/dev/null 2>&1 || missing+=(linux-perf); fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    log "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    die "missing ${missing[*]}; install with: sudo apt-get install -y ${missing[*]}"
  fi
fi

py="$(python3 -c 'import sys; print(sys.executable)')"

# --- workspace and cleanup ----------------------------------------------------------------------
work="$(mktemp -d /tmp/gateway-bench.XXXXXX)"
pids=()
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  if [ "$status" -ne 0 ]; then
    log "logs of the servers (last lines):"
    for f in "$work"/*.log; do
      [ -f "$f" ] || continue
      echo "--- $(basename "$f")" >&2
      tail -n 15 "$f" >&2
    done
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- build ----------------------------------------------------------------------------------------
log "building (Release): src/Gateway, src/SampleTenantApp, bench/BareYarp, bench/GcProbe"
for project in src/Gateway/Gateway.csproj src/SampleTenantApp/SampleTenantApp.csproj \
               bench/BareYarp/BareYarp.csproj bench/GcProbe/GcProbe.csproj bench/EsSink/EsSink.csproj; do
  dotnet build "$project" -c Release -nologo -v quiet -clp:ErrorsOnly >"$work/build.log" 2>&1 \
    || { cat "$work/build.log" >&2; die "build of $project"; }
done

# Run copies, so a concurrent rebuild of the work tree cannot swap binaries under a run.
cp -r src/Gateway/bin/Release/net10.0 "$work/gateway-bin"
cp -r src/SampleTenantApp/bin/Release/net10.0 "$work/sample-bin"
cp -r bench/BareYarp/bin/Release/net10.0 "$work/bareyarp-bin"
cp -r bench/EsSink/bin/Release/net10.0 "$work/essink-bin"
probe="$(cp -r bench/GcProbe/bin/Release/net10.0 "$work/probe-bin" && echo "$work/probe-bin/GcProbe.dll")"
cp -r config "$work/config"
gateway_dll="$work/gateway-bin/Gateway.dll"

# --- ports ----------------------------------------------------------------------------------------
mapfile -t ports < <("$py" - <<'EOF'
import socket
socks = []
for _ in range(18):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
for s in socks:
    print(s.getsockname()[1])
EOF
)
port_backend=${ports[0]}; port_bare=${ports[1]}; port_gw=${ports[2]}; port_gw_cold=${ports[3]}; port_redis=${ports[4]}
gc_backend=${ports[5]}; gc_bare=${ports[6]}; gc_gw=${ports[7]}; gc_gw_cold=${ports[8]}
port_es=${ports[9]}
port_gw_nowal=${ports[10]}; gc_gw_nowal=${ports[11]}; port_gw_flood=${ports[12]}; gc_gw_flood=${ports[13]}
port_gw_notel=${ports[14]}; gc_gw_notel=${ports[15]}; port_gw_sbind=${ports[16]}; gc_gw_sbind=${ports[17]}
backend_url="http://127.0.0.1:$port_backend/"

# --- servers --------------------------------------------------------------------------------------
gc_env=()
case "${BENCH_DOTNET_GC:-}" in
  "") ;;
  workstation) gc_env=(DOTNET_gcServer=0) ;;
  server) gc_env=(DOTNET_gcServer=1) ;;
  *) die "BENCH_DOTNET_GC: workstation or server" ;;
esac
perf_env=()
# The runtime writes /tmp/perf-PID.map so that perf can name JIT-compiled frames; without W^X
# double mapping, so that the samples land on the addresses that map names.
# BENCH_ALLOC_PROFILE: the GC probe also samples allocations by type (the runtime's AllocationTick).
[ -n "${BENCH_PROFILE:-}" ] && perf_env=(DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0 BENCH_ALLOC_PROFILE=1)

# start NAME GC_PORT CMD... : a .NET server with the GC probe (bench/GcProbe) loaded as a startup hook.
start_dotnet() {
  local name=$1 gc_port=$2; shift 2
  env "${gc_env[@]}" "${perf_env[@]}" DOTNET_STARTUP_HOOKS="$probe" BENCH_GC_PORT="$gc_port" "$@" >"$work/$name.log" 2>&1 &
  pids+=($!)
  eval "pid_${name//-/_}=$!"
}

wait_http() { # URL NAME PID [HOST]
  local url=$1 name=$2 pid=$3 host=${4:-localhost}
  for _ in $(seq 300); do
    if curl -fsS -o /dev/null -H "Host: $host" "$url" 2>/dev/null; then return 0; fi
    kill -0 "$pid" 2>/dev/null || die "$name exited during start-up (its log is below)"
    sleep 0.2
  done
  die "$name did not answer at $url within 60 s"
}

log "starting redis-server :$port_redis"
redis-server --port "$port_redis" --bind 127.0.0.1 --save "" --appendonly no --daemonize no \
  >"$work/redis.log" 2>&1 &
pids+=($!); pid_redis=$!

log "starting the Elasticsearch stand-in :$port_es (the gateways ship their audit events to it)"
dotnet "$work/essink-bin/EsSink.dll" --urls "http://127.0.0.1:$port_es" >"$work/essink.log" 2>&1 &
pids+=($!); pid_essink=$!

log "starting the sample backend :$port_backend (A)"
start_dotnet backend "$gc_backend" dotnet "$work/sample-bin/SampleTenantApp.dll" --urls "http://127.0.0.1:$port_backend"

log "starting bare YARP :$port_bare (B)"
start_dotnet bare "$gc_bare" dotnet "$work/bareyarp-bin/BareYarp.dll" \
  --routes "$work/config/routes.json" --urls "http://127.0.0.1:$port_bare" \
  --ReverseProxy:Clusters:acme:Destinations:primary:Address="$backend_url" \
  --ReverseProxy:Clusters:globex:Destinations:primary:Address="$backend_url"

gateway_args() { # PORT NAME
  local dir="$work/config-$2"
  cp -r "$work/config" "$dir"
  # shellcheck disable=SC2206
  local extra=(${BENCH_GATEWAY_ARGS:-})
  echo --config-dir "$dir" --urls "http://127.0.0.1:$1" \
    --Gateway:Demo:HostSampleApps=false \
    --ReverseProxy:Clusters:acme:Destinations:primary:Address="$backend_url" \
    --ReverseProxy:Clusters:globex:Destinations:primary:Address="$backend_url" \
    --Redis:Configuration="127.0.0.1:$port_redis" \
    --Serilog:WriteTo:Console:Name=Console \
    --Serilog:WriteTo:File:Args:path="$work/logs-$2/gateway-.log" \
    --Logging:LogLevel:Default=Warning \
    --Audit:SpoolDirectory="$work/spool-$2" \
    --Audit:Elasticsearch:Url="http://127.0.0.1:$port_es" \
    "${extra[@]}"
}

log "starting the gateway :$port_gw (C, D-basic, D-token)"
# shellcheck disable=SC2046
start_dotnet gw "$gc_gw" dotnet "$gateway_dll" $(gateway_args "$port_gw" gw)
log "starting the cold-cache gateway :$port_gw_cold (D′: Grants:CacheSafetyTtl=00:00:00.001)"
# shellcheck disable=SC2046
start_dotnet gw-cold "$gc_gw_cold" dotnet "$gateway_dll" $(gateway_args "$port_gw_cold" gw-cold) \
  --Grants:CacheSafetyTtl=00:00:00.001
log "starting the gateway without write-ahead :$port_gw_nowal (W-off: Audit:WriteAhead=off)"
# shellcheck disable=SC2046
start_dotnet gw-nowal "$gc_gw_nowal" dotnet "$gateway_dll" $(gateway_args "$port_gw_nowal" gw-nowal) \
  --Audit:WriteAhead=off
log "starting the gateway without telemetry :$port_gw_notel (D-notel: Telemetry:Enabled=false)"
# shellcheck disable=SC2046
start_dotnet gw-notel "$gc_gw_notel" dotnet "$gateway_dll" $(gateway_args "$port_gw_notel" gw-notel) \
  --Telemetry:Enabled=false
log "starting the gateway with session-bound identity tokens :$port_gw_sbind (D-sbind: Support:IdentityTokenBinding=session)"
# shellcheck disable=SC2046
start_dotnet gw-sbind "$gc_gw_sbind" dotnet "$gateway_dll" $(gateway_args "$port_gw_sbind" gw-sbind) \
  --Support:IdentityTokenBinding=session

wait_http "http://127.0.0.1:$port_es/" "Elasticsearch stand-in" "$pid_essink"
wait_http "http://127.0.0.1:$port_backend/" backend "$pid_backend"
wait_http "http://127.0.0.1:$port_bare/" "bare YARP" "$pid_bare" acme.localhost
# Readiness details (grant store, audit counters) are for platform admins: anonymous callers get the status word.
ops="$(dotnet "$gateway_dll" token --config-dir "$work/config" --user bench-ops --role platform-admin)" || die "token verb"
wait_http "http://127.0.0.1:$port_gw/_gateway/health/ready" gateway "$pid_gw"
wait_http "http://127.0.0.1:$port_gw_cold/_gateway/health/ready" "cold-cache gateway" "$pid_gw_cold"
wait_http "http://127.0.0.1:$port_gw_nowal/_gateway/health/ready" "gateway without write-ahead" "$pid_gw_nowal"
wait_http "http://127.0.0.1:$port_gw_notel/_gateway/health/ready" "gateway without telemetry" "$pid_gw_notel"
wait_http "http://127.0.0.1:$port_gw_sbind/_gateway/health/ready" "gateway with session-bound identity tokens" "$pid_gw_sbind"
for name in gw gw-cold gw-nowal gw-notel gw-sbind; do
  port=$port_gw; [ "$name" = gw-cold ] && port=$port_gw_cold; [ "$name" = gw-nowal ] && port=$port_gw_nowal
  [ "$name" = gw-notel ] && port=$port_gw_notel; [ "$name" = gw-sbind ] && port=$port_gw_sbind
  ready="$(curl -fsS -H "Authorization: Bearer $ops" "http://127.0.0.1:$port/_gateway/health/ready")"
  # Both gateways must read grants from this run's Redis, with invalidations heard.
  tr -d ' \n' <<<"$ready" | grep -q '"redis".*"reachable":true.*"invalidationsConnected":true' \
    || die "gateway $name: grant store not on a reachable Redis: $ready"
done

# --- support session ------------------------------------------------------------------------------
log "creating a deny-config grant (john) and a support session (jill\$john)"
john="$(dotnet "$gateway_dll" token --config-dir "$work/config" --tenant acme --user john --role tenant-user)" \
  || die "token verb"
grant="$(curl -sS -w '\n%{http_code}' -X POST -H "Authorization: Bearer $john" -H 'Content-Type: application/json' \
  -d '{"denyData": false, "denyConfig": true, "reason": "bench/run.sh"}' \
  "http://127.0.0.1:$port_gw/_gateway/tenants/acme/support/grants")"
[ "$(tail -n1 <<<"$grant")" = 201 ] || die "creating the grant: $grant"
basic="Basic $(printf '%s' 'jill$john:jill-demo-password' | base64 -w0)"
login="$(curl -sS -w '\n%{http_code}' -H 'Host: acme.localhost' -H 'Content-Type: application/json' \
  -d '{"username":"jill$john","password":"jill-demo-password"}' "http://127.0.0.1:$port_gw/_gateway/support/login")"
[ "$(tail -n1 <<<"$login")" = 200 ] || die "support login: $login"
session="$(head -n -1 <<<"$login" | "$py" -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')"
# W, W-off: configuration writes need a grant without denyConfig; on globex, so that acme's
# deny-config grant (the D arms) stays the only one there. Grants live in Redis: both gateways see it.
log "creating a grant without denyConfig on globex for the write arms (W, W-off)"
gina="$(dotnet "$gateway_dll" token --config-dir "$work/config" --tenant globex --user gina --role tenant-admin)" \
  || die "token verb"
grant="$(curl -sS -w '\n%{http_code}' -X POST -H "Authorization: Bearer $gina" -H 'Content-Type: application/json' \
  -d '{"denyData": true, "denyConfig": false, "reason": "bench/run.sh write arms"}' \
  "http://127.0.0.1:$port_gw/_gateway/tenants/globex/support/grants")"
[ "$(tail -n1 <<<"$grant")" = 201 ] || die "creating the globex grant: $grant"
write_body='{"value":"bench"}'
# The write arms' wrk script: the request (method, body, content type) set once, so wrk keeps its
# fast path (no per-request Lua), then the summary of bench/wrk-summary.lua.
{ printf 'wrk.method = "PUT"\nwrk.body = %s\nwrk.headers["Content-Type"] = "application/json"\n' "'$write_body'"
  cat bench/wrk-summary.lua; } >"$work/wrk-put.lua"

# --- targets --------------------------------------------------------------------------------------
# target_* NAME → port, Authorization header, the processes measured (role=pid ...)
target_port() {
  case $1 in
    A) echo "$port_backend" ;; B) echo "$port_bare" ;;
    C|D-basic|D-token|W) echo "$port_gw" ;; "D′") echo "$port_gw_cold" ;; W-off) echo "$port_gw_nowal" ;; D-notel) echo "$port_gw_notel" ;; D-sbind) echo "$port_gw_sbind" ;; C-flood) echo "$port_gw_flood" ;;
  esac
}
# The write arms: another tenant, path, method and body (target_path's BYTES: the read arms' download size).
target_host() { case $1 in W|W-off) echo globex.localhost ;; *) echo acme.localhost ;; esac; }
target_path() { case $1 in W|W-off) echo /api/settings/bench ;; *) echo "/download?bytes=$2" ;; esac; }
target_script() { case $1 in W|W-off) echo "$work/wrk-put.lua" ;; *) echo bench/wrk-summary.lua ;; esac; }
is_write_arm() { case $1 in W|W-off) return 0 ;; *) return 1 ;; esac; }
target_auth() {
  case $1 in
    D-basic|"D′"|W|W-off|D-notel|D-sbind) echo "$basic" ;; D-token) echo "Bearer $session" ;; *) echo "" ;;
  esac
}
target_procs() {
  case $1 in
    A) echo "backend=$pid_backend" ;;
    B) echo "proxy=$pid_bare backend=$pid_backend" ;;
    C|D-basic|D-token) echo "proxy=$pid_gw backend=$pid_backend redis=$pid_redis" ;;
    "D′") echo "proxy=$pid_gw_cold backend=$pid_backend redis=$pid_redis" ;;
    W) echo "proxy=$pid_gw backend=$pid_backend redis=$pid_redis" ;;
    W-off) echo "proxy=$pid_gw_nowal backend=$pid_backend redis=$pid_redis" ;;
    D-notel) echo "proxy=$pid_gw_notel backend=$pid_backend redis=$pid_redis" ;;
    D-sbind) echo "proxy=$pid_gw_sbind backend=$pid_backend redis=$pid_redis" ;;
    C-flood) echo "proxy=$pid_gw_flood backend=$pid_backend redis=$pid_redis" ;;
  esac
}
gc_port_of_pid() {
  case $1 in
    "$pid_backend") echo "$gc_backend" ;; "$pid_bare") echo "$gc_bare" ;;
    "$pid_gw") echo "$gc_gw" ;; "$pid_gw_cold") echo "$gc_gw_cold" ;; "$pid_gw_nowal") echo "$gc_gw_nowal" ;; "$pid_gw_notel") echo "$gc_gw_notel" ;; "$pid_gw_sbind") echo "$gc_gw_sbind" ;; "${pid_gw_flood:-none}") echo "$gc_gw_flood" ;; *) echo "" ;;
  esac
}

# Every target must answer 200 with the right body before anything is measured.
for target in "${targets[@]}"; do
  if is_write_arm "$target"; then
    got="$(curl -sS -o /dev/null -w '%{http_code}' -X PUT -H "Host: $(target_host "$target")" -H "Authorization: $(target_auth "$target")" \
      -H 'Content-Type: application/json' -d "$write_body" "http://127.0.0.1:$(target_port "$target")$(target_path "$target")")"
    [ "$got" = 200 ] || die "target $target, PUT $(target_path "$target") answered '$got' (want 200)"
    continue
  fi
  for bytes in $payloads; do
    auth="$(target_auth "$target")"
    args=(-sS -o /dev/null -w '%{http_code} %{size_download}' -H 'Host: acme.localhost')
    [ -n "$auth" ] && args+=(-H "Authorization: $auth")
    got="$(curl "${args[@]}" "http://127.0.0.1:$(target_port "$target")/download?bytes=$bytes")"
    [ "$got" = "200 $bytes" ] || die "target $target, /download?bytes=$bytes answered '$got' (want '200 $bytes')"
  done
done

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }   # utime + stime, in clock ticks
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
gc_allocated() {
  local port; port="$(gc_port_of_pid "$1")"
  [ -n "$port" ] || { echo null; return; }
  curl -fsS --max-time 2 "http://127.0.0.1:$port/" | sed -n 's/.*"allocated":\([0-9]*\).*/\1/p'
}
audit_dropped() {  # the gateway's count of dropped (ordinary) audit events, from its readiness
  curl -fsS --max-time 2 -H "Authorization: Bearer $ops" "http://127.0.0.1:$1/_gateway/health/ready" | "$py" -c 'import json,sys; print(json.load(sys.stdin)["checks"]["audit"]["dropped"])'
}
jit_compiled() {  # methods the JIT has compiled so far in PID (every tier), from the GC probe
  local port; port="$(gc_port_of_pid "$1")"
  [ -n "$port" ] || { echo 0; return; }
  curl -fsS --max-time 2 "http://127.0.0.1:$port/" | sed -n 's/.*"jitted":\([0-9]*\).*/\1/p'
}
now_ns() { date +%s%N; }
redis_commands() { redis-cli -p "$port_redis" INFO stats | tr -d '\r' | sed -n 's/^total_commands_processed://p'; }
machine_busy_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }  # all cores, not idle/iowait
clk_tck="$(getconf CLK_TCK)"

runs="$work/runs.jsonl"
: >"$runs"

# measure KIND ROUND TARGET BYTES CONNS DURATION
measure() {
  local kind=$1 round=$2 target=$3 bytes=$4 conns=$5 dur=$6
  local port auth procs
  port="$(target_port "$target")"; auth="$(target_auth "$target")"; procs="$(target_procs "$target")"
  local -A ticks0=() alloc0=()
  local entry role pid
  for entry in $procs; do
    role=${entry%%=*}; pid=${entry#*=}
    kill -0 "$pid" 2>/dev/null || die "the $role process of $target (pid $pid) is gone"
    ticks0[$role]="$(cpu_ticks "$pid")"; alloc0[$role]="$(gc_allocated "$pid")"
  done

  local wrk_args=(-t"$wrk_threads" -c"$conns" -d"$dur" --timeout 10s --latency -s "$(target_script "$target")"
                  -H "Host: $(target_host "$target")")
  [ -n "$auth" ] && wrk_args+=(-H "Authorization: $auth")
  local out="$work/wrk.out" t0 t1 wrk_cpu busy0 busy1 redis0 redis1 dropped0=0 dropped1=0
  case $target in A|B) ;; *) dropped0="$(audit_dropped "$port")" ;; esac
  redis0="$(redis_commands)"
  busy0="$(machine_busy_ticks)"
  t0="$(now_ns)"
  # wrk's own user+system CPU (it shares the 2 cores with the servers).
  wrk_cpu="$( { TIMEFORMAT='%U %S'; time wrk "${wrk_args[@]}" "http://127.0.0.1:$port$(target_path "$target" "$bytes")" >"$out" 2>&1; } 2>&1 )" \
    || { cat "$out" >&2; die "wrk against $target"; }
  t1="$(now_ns)"
  busy1="$(machine_busy_ticks)"
  redis1="$(redis_commands)"
  case $target in A|B) ;; *) dropped1="$(audit_dropped "$port")" ;; esac
  if [ "$dropped1" -gt "$dropped0" ]; then
    log "  $target: $((dropped1 - dropped0)) ordinary audit events dropped during this run (the writer fell behind)"
  fi

  local summary; summary="$(sed -n 's/^BENCH_JSON //p' "$out")"
  [ -n "$summary" ] || { cat "$out" >&2; die "no summary from wrk against $target"; }
  local non2xx; non2xx="$(sed -n 's/^ *Non-2xx or 3xx responses: *//p' "$out")"

  local wall_s; wall_s="$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", (b - a) / 1e9 }')"
  local procs_json="" ticks1 alloc1 rss hwm
  for entry in $procs; do
    role=${entry%%=*}; pid=${entry#*=}
    ticks1="$(cpu_ticks "$pid")"; alloc1="$(gc_allocated "$pid")"
    rss="$(status_kb "$pid" VmRSS)"; hwm="$(status_kb "$pid" VmHWM)"
    procs_json+="${procs_json:+,}\"$role\":{\"pid\":$pid,\"cpu_ticks\":$((ticks1 - ticks0[$role])),\"alloc_before\":${alloc0[$role]},\"alloc_after\":$alloc1,\"rss_kb\":$rss,\"hwm_kb\":$hwm}"
  done
  printf '{"kind":"%s","round":%d,"target":"%s","bytes":%d,"connections":%d,"duration":"%s","wall_s":%s,"clk_tck":%d,"machine_busy_ticks":%d,"redis_commands":%d,"audit_dropped":%d,"wrk_cpu":"%s","non2xx_line":"%s","wrk":%s,"procs":{%s}}\n' \
    "$kind" "$round" "$target" "$bytes" "$conns" "$dur" "$wall_s" "$clk_tck" "$((busy1 - busy0))" "$((redis1 - redis0))" "$((dropped1 - dropped0))" "$wrk_cpu" "${non2xx:-0}" "$summary" "$procs_json" >>"$runs"

  # Socket errors, or error statuses above 0.1 %, fail the benchmark: a fast wrong answer is not a result.
  "$py" - "$target" "$bytes" "$conns" "$summary" "${non2xx:-0}" "$work/last_rps" <<'EOF' || { cat "$out" >&2; die "errors from $target (wrk output above)"; }
import json, sys, time
target, size, conns, s, non2xx, last = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
rps = s["requests"] / (s["duration_us"] / 1e6)
print(f"[bench {time.strftime('%H:%M:%S')}]   {target:<8} {size:>7} B  c={conns:<3} {rps:9.0f} req/s"
      f"  p50 {s['p50_us'] / 1000:6.2f} ms  p99 {s['p99_us'] / 1000:6.2f} ms", file=sys.stderr)
open(last, "w").write(f"{round(rps)}\n")
# Socket errors fail the run. Error statuses are tolerated up to 0.1 % and reported: under
# saturation the gateway answers a support call whose grant lookup misses the 200 ms budget
# with 503 (it fails closed by design); more than that is not a result.
bad = {k: v for k, v in s.items() if k.startswith("err_") and k != "err_status" and v}
if non2xx:
    print(f"[bench {time.strftime('%H:%M:%S')}]   {target}: {non2xx} non-2xx/3xx of {s['requests']} responses", file=sys.stderr)
if non2xx * 1000 > s["requests"] or bad or s["requests"] == 0:
    print(f"{target}: requests={s['requests']} non-2xx/3xx={non2xx} {bad}", file=sys.stderr)
    sys.exit(1)
EOF
}

# --- runs -----------------------------------------------------------------------------------------
started_at="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
loadavg_at_start="$(cut -d' ' -f1-3 /proc/loadavg)"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
# warm_up TARGET: 2 s runs (1 KB, 32 connections) until the JIT is done and the rate settles, then
# 1 s per other payload. "Done" is the runtime's own count: at most 5 methods compiled during a
# 2 s run. Under load on 2 cores the background tier-1 JIT of the gateway keeps going for 15-25 s
# and takes a fifth of its CPU meanwhile (BENCH_PROFILE shows it); a rate that looks settled
# earlier is not the steady state.
warm_up() {
  local target=$1 previous=0 settled=no rps elapsed bytes pid jit0 jit1
  pid="$(target_procs "$target" | sed -E 's/^[a-z]+=([0-9]+).*/\1/')"
  for ((elapsed = 2; elapsed <= warmup_max; elapsed += 2)); do
    jit0="$(jit_compiled "$pid")"
    measure warmup 0 "$target" 1024 32 2s
    jit1="$(jit_compiled "$pid")"
    rps="$(cat "$work/last_rps")"
    if [ $((jit1 - jit0)) -le 5 ] && [ "$previous" -gt 0 ] \
       && [ $(( (rps > previous ? rps - previous : previous - rps) * 20 )) -le "$previous" ]; then
      settled=yes; break
    fi
    previous=$rps
  done
  log "  $target: warm after ${elapsed} s ($((jit1 - jit0)) methods compiled in the last 2 s, ${jit1} in all)"
  [ "$settled" = yes ] || log "  $target: the JIT or the rate did not settle within ${warmup_max} s (noisy machine?)"
  is_write_arm "$target" && return 0
  for bytes in $payloads; do
    [ "$bytes" = 1024 ] || measure warmup 0 "$target" "$bytes" 32 1s
  done
}

# --- profile mode (BENCH_PROFILE) ---------------------------------------------------------------------
if [ -n "${BENCH_PROFILE:-}" ]; then
  profile_duration="${BENCH_PROFILE_DURATION:-10s}"
  mkdir -p bench/results
  profile_md="bench/results/profile-$stamp.md"
  {
    echo "# CPU profiles under load ($started_at)"
    echo
    echo "\`BENCH_PROFILE=\"$BENCH_PROFILE\" bench/run.sh\`: perf record -g at 999 Hz on the proxy process while"
    echo "wrk runs \`GET /download?bytes=1024\` with 32 connections for $profile_duration, after the warm-up."
    echo "Machine: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n1); load average at start $loadavg_at_start."
    echo
  } >"$profile_md"
  for target in $BENCH_PROFILE; do
    procs="$(target_procs "$target")" || die "BENCH_PROFILE: unknown target $target"
    [ -n "$procs" ] || die "BENCH_PROFILE: unknown target $target (one of: ${targets[*]})"
    pid="$(sed -E 's/^[a-z]+=([0-9]+).*/\1/' <<<"$procs")"   # the first process: the proxy (A: the backend)
    log "profile of $target (pid $pid): warm-up"
    warm_up "$target"
    log "profile of $target: recording $profile_duration under load"
    gc_port="$(gc_port_of_pid "$pid")"
    curl -fsS --max-time 5 "http://127.0.0.1:$gc_port/" >"$work/alloc-before.json"
    perf record -F 999 -g -p "$pid" -o "$work/perf-$target.data" >"$work/perf-$target.log" 2>&1 &
    perf_pid=$!
    sleep 0.5   # perf attaches before the load starts; the requests are counted by wrk
    measure profile 0 "$target" 1024 32 "$profile_duration"
    kill -INT "$perf_pid"; wait "$perf_pid" || true
    curl -fsS --max-time 5 "http://127.0.0.1:$gc_port/" >"$work/alloc-after.json"
    requests="$(tail -n1 "$runs" | "$py" -c 'import json,sys; print(json.load(sys.stdin)["wrk"]["requests"])')"
    perf script -i "$work/perf-$target.data" -F comm,tid,time,period,event,ip,sym,dso >"$work/perf-$target.txt" 2>"$work/perf-script.log" \
      || { cat "$work/perf-script.log" >&2; die "perf script for $target"; }
    "$py" bench/profile_report.py "$target" "$requests" "$work/perf-$target.txt" "$work/profile-$target.md" \
      "$work/alloc-before.json" "$work/alloc-after.json" >&2
    cat "$work/profile-$target.md" >>"$profile_md"
    echo >>"$profile_md"
  done
  cp "$profile_md" bench/results/profile-latest.md
  log "profiles: $profile_md, bench/results/profile-latest.md"
  exit 0
fi

log "warm-up per target: 2 s runs until the JIT is quiet and the rate settles (at most ${warmup_max} s), then 1 s per other payload"
for target in "${targets[@]}"; do
  warm_up "$target"
done

for round in $(seq 1 "$repeats"); do
  order=("${targets[@]}")
  if [ $((round % 2)) -eq 0 ]; then   # even rounds run the targets in reverse order
    order=(); for ((i = ${#targets[@]} - 1; i >= 0; i--)); do order+=("${targets[$i]}"); done
  fi
  log "round $round/$repeats: ${order[*]}"
  for bytes in $payloads; do
    for conns in $connections; do
      for target in "${order[@]}"; do
        if is_write_arm "$target" && [ "$bytes" != 1024 ]; then continue; fi
        measure load "$round" "$target" "$bytes" "$conns" "$duration"
      done
    done
  done
  if [ "$low_conns" -gt 0 ]; then
    for target in "${order[@]}"; do
      measure low "$round" "$target" 1024 "$low_conns" "$low_duration"
    done
  fi
done

# --- login flood (abuse resistance) ---------------------------------------------------------------
# Ordinary traffic (C) on a third gateway, alone and then beside a password-guessing flood from
# many client addresses and user names; a tenant admin's revocation in the middle of the flood.
# That gateway trusts 127.0.0.1 as its proxy, so the flood's X-Forwarded-For is its client.
if [ "${BENCH_FLOOD:-1}" = 1 ]; then
  flood_conns="${BENCH_FLOOD_CONNS:-8}"; flood_attackers="${BENCH_FLOOD_ATTACKERS:-64}"; flood_duration="${BENCH_FLOOD_DURATION:-10s}"
  flood_rate="${BENCH_FLOOD_RATE:-2000}"   # attempts per second over all attacker connections
  flood_rounds="${BENCH_FLOOD_ROUNDS:-3}"
  log "login flood: starting a gateway :$port_gw_flood that trusts 127.0.0.1 as its proxy"
  # shellcheck disable=SC2046
  start_dotnet gw-flood "$gc_gw_flood" dotnet "$gateway_dll" $(gateway_args "$port_gw_flood" gw-flood) \
    --Gateway:ForwardedHeaders:KnownProxies:0=127.0.0.1
  wait_http "http://127.0.0.1:$port_gw_flood/_gateway/health/ready" "flood gateway" "$pid_gw_flood"
  warm_up C-flood
  ann="$(dotnet "$gateway_dll" token --config-dir "$work/config" --tenant acme --user ann --role tenant-admin)" || die "token verb"
  flood_seconds=$(( ${flood_duration%s} + 6 ))
  # Rounds alternate "alone" and "beside the flood", so that a slow moment of the machine lands in
  # either; the report takes the median of each (C's p99 alone varies by ±30 % between runs here).
  for round in $(seq "$flood_rounds"); do
    log "login flood round $round/$flood_rounds: C alone ($flood_conns connections, $flood_duration)"
    measure flood-base "$round" C-flood 1024 "$flood_conns" "$flood_duration"
    curl -fsS -o /dev/null -X POST -H "Authorization: Bearer $john" -H 'Content-Type: application/json' -d '{"denyData": false}' \
      "http://127.0.0.1:$port_gw_flood/_gateway/tenants/acme/support/grants" || die "grant before the flood"
    log "login flood round $round/$flood_rounds: $flood_rate failed logins/s over $flood_attackers connections for ${flood_seconds} s; C measured beside it; ann revokes in the middle"
    FLOOD_DELAY_MS=$(( flood_attackers * 1000 / flood_rate )) wrk -t1 -c"$flood_attackers" -d"${flood_seconds}s" --timeout 10s -s bench/login-flood.lua "http://127.0.0.1:$port_gw_flood/" >"$work/flood.out" 2>&1 &
    flood_pid=$!
    sleep 3   # the flood reaches its steady state before C is measured (a benchmark script: waiting is the point)
    ( sleep $(( ${flood_duration%s} / 2 )); curl -sS -o /dev/null -w '%{http_code} %{time_total}' -X DELETE -H "Authorization: Bearer $ann" \
        "http://127.0.0.1:$port_gw_flood/_gateway/tenants/acme/support/grants" >"$work/revoke.out" 2>&1 ) &
    revoke_pid=$!
    measure flood "$round" C-flood 1024 "$flood_conns" "$flood_duration"
    wait "$revoke_pid" || true
    wait "$flood_pid" || die "the flood's wrk failed: $(cat "$work/flood.out")"
    flood_json="$(sed -n 's/^FLOOD_JSON //p' "$work/flood.out")"
    [ -n "$flood_json" ] || die "no summary from the flood: $(cat "$work/flood.out")"
    revoke_status=""; revoke_seconds=""
    read -r revoke_status revoke_seconds <"$work/revoke.out" || true
    log "login flood round $round: $flood_json; revocation: HTTP ${revoke_status:-?} in ${revoke_seconds:-?} s"
    printf '{"kind":"flood-attack","round":%d,"target":"C-flood","attack":%s,"revoke_status":"%s","revoke_seconds":"%s","attackers":%d,"rate":%d}\n' \
      "$round" "$flood_json" "${revoke_status:-}" "${revoke_seconds:-}" "$flood_attackers" "$flood_rate" >>"$runs"
  done
fi

# --- audit: did the pipeline keep up? ----------------------------------------------------------------
audit_summary=""
for gw in "gw:$port_gw" "gw-cold:$port_gw_cold" "gw-nowal:$port_gw_nowal" "gw-notel:$port_gw_notel" "gw-sbind:$port_gw_sbind"; do
  name=${gw%%:*}; port=${gw#*:}
  health=$(curl -fsS -H "Authorization: Bearer $ops" "http://127.0.0.1:$port/_gateway/health/ready" || echo '{}')
  [ "$name" = gw ] && echo "$health" >"$work/health-gw.json"
  line=$("$py" -c 'import json,sys; a=json.loads(sys.argv[1]).get("checks",{}).get("audit",{}); print("status=%s accepted=%s spooled=%s shipped=%s dropped=%s deadLettered=%s queueLength=%s writeMaxMs=%s fsyncMaxMs=%s writeAhead=%s writeAheadRecords=%s writeAheadSyncs=%s writeAheadRefused=%s writeAheadWaitMaxMs=%s" % tuple(a.get(k,"?") for k in ("status","accepted","spooled","shipped","dropped","deadLettered","queueLength","writeMaxMs","fsyncMaxMs","writeAhead","writeAheadRecords","writeAheadSyncs","writeAheadRefused","writeAheadWaitMaxMs")))' "$health")
  log "audit of $name: $line"
  audit_summary+="$name: $line; "
done
log "Elasticsearch stand-in received: $(curl -fsS "http://127.0.0.1:$port_es/_bench/count")"
for name in gw gw-cold gw-nowal gw-notel gw-sbind; do
  warnings="$(cat "$work/logs-$name"/gateway-*.log 2>/dev/null | grep -E '\[(WRN|ERR|FTL)\]' | grep -v -e 'SigningKeyPem' -e 'RequestCanceled' | tail -n 20 || true)"
  [ -z "$warnings" ] || { log "warnings of $name (last 20):"; echo "$warnings" >&2; }
done

# --- report ---------------------------------------------------------------------------------------
mkdir -p bench/results
meta="$("$py" - "$started_at" "$duration" "$repeats" "until the JIT is quiet and the rate settles, at most ${warmup_max} s" "$payloads" "$connections" "$low_conns" "$low_duration" \
        "${BENCH_QUICK:-0}" "$(dotnet --version)" "$(wrk -v 2>&1 | head -n1 || true)" "$(redis-server --version)" \
        "${BENCH_DOTNET_GC:-default}" "${BENCH_GATEWAY_ARGS:-}" "$loadavg_at_start" "$audit_summary" <<'EOF'
import json, os, platform, sys
a = sys.argv[1:]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown")
mem_kb = next(int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal"))
print(json.dumps({
    "date": a[0], "nproc": os.cpu_count(), "cpu_model": cpu, "mem_total_gib": round(mem_kb / 1048576, 1),
    "kernel": platform.release(), "dotnet_sdk": a[9], "wrk": a[10], "redis": a[11], "dotnet_gc": a[12],
    "gateway_args": a[13], "loadavg_at_start": a[14], "audit": a[15],
    "settings": {"duration": a[1], "repeats": int(a[2]), "warmup": a[3], "payloads": [int(x) for x in a[4].split()],
                 "connections": [int(x) for x in a[5].split()], "low_connections": int(a[6]), "low_duration": a[7],
                 "quick": a[8] == "1", "wrk_threads": 2, "path": "/download?bytes=N"},
}))
EOF
)"
"$py" bench/report.py "$meta" "$runs" "bench/results/$stamp.json" "bench/results/$stamp.md"

# --- the write-ahead's cost: W (write-ahead on) against W-off (off), same PUTs, same machine ------------
# Medians over the rounds per connection count, and from the W gateway's readiness the group commit:
# write-ahead records per fsync, the longest wait for one and the longest fsync.
"$py" - "$runs" "$work/health-gw.json" <<'EOF' | tee -a "bench/results/$stamp.md"
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
audit = json.load(open(sys.argv[2])).get("checks", {}).get("audit", {})
def fig(run):
    w = run["wrk"]; secs = w["duration_us"] / 1e6
    cpu = run["procs"]["proxy"]["cpu_ticks"] / run["clk_tck"]
    return {"rps": w["requests"] / secs, "p50": w["p50_us"] / 1000, "p99": w["p99_us"] / 1000,
            "cpu_us": cpu * 1e6 / w["requests"] if w["requests"] else None}
rows = {}
for r in runs:
    if r["kind"] == "load" and r["target"] in ("W", "W-off"):
        rows.setdefault((r["connections"], r["target"]), []).append(fig(r))
def med(xs, k):
    vals = [x[k] for x in xs if x[k] is not None]
    return statistics.median(vals) if vals else None
def f(v, d=2):
    return "—" if v is None else f"{v:,.{d}f}"
print("\n## Write-ahead cost (W: Audit:WriteAhead=writes, W-off: off)\n")
print("`PUT /api/settings/bench` with `{\"value\":\"bench\"}` as `jill$john` on globex (config route, grant without"
      " denyConfig), in the 1 KB rounds; medians of the rounds; CPU of the proxy process only.\n")
print("| conns | W req/s | W-off req/s | W/W-off | W p50 ms | W-off p50 ms | W p99 ms | W-off p99 ms | Δp99 ms | W CPU µs/req | W-off CPU µs/req |")
print("|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
for c in sorted({k[0] for k in rows}):
    w, o = rows.get((c, "W"), []), rows.get((c, "W-off"), [])
    wr, orr, wp, op = med(w, "rps"), med(o, "rps"), med(w, "p99"), med(o, "p99")
    print(f"| {c} | {f(wr, 0)} | {f(orr, 0)} | {f(wr / orr if wr and orr else None)} | {f(med(w, 'p50'))} | {f(med(o, 'p50'))}"
          f" | {f(wp)} | {f(op)} | {f(wp - op if wp is not None and op is not None else None)}"
          f" | {f(med(w, 'cpu_us'), 0)} | {f(med(o, 'cpu_us'), 0)} |")
records, syncs = audit.get("writeAheadRecords", 0), audit.get("writeAheadSyncs", 0)
if syncs:
    print(f"\nGroup commit on the W gateway over the whole run (warm-ups included): {records} write-ahead records,"
          f" {syncs} fsyncs ({records / syncs:.1f} records per fsync); longest wait {audit.get('writeAheadWaitMaxMs', '?')} ms,"
          f" longest fsync {audit.get('fsyncMaxMs', '?')} ms, refused {audit.get('writeAheadRefused', '?')}.")
else:
    print("\nThe W gateway reported no write-ahead fsync (was the W arm measured?).")
EOF

# --- what telemetry costs the support path: D-basic (meters exported) against D-notel (Telemetry:Enabled=false) ---
"$py" - "$runs" <<'EOF' | tee -a "bench/results/$stamp.md"
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
rows = {}
for r in runs:
    if r["kind"] == "load" and r["target"] in ("D-basic", "D-notel", "D-sbind"):
        w = r["wrk"]
        rps = w["requests"] / (w["duration_us"] / 1e6)
        cpu = r["procs"]["proxy"]["cpu_ticks"] / r["clk_tck"] * 1e6 / w["requests"] if w["requests"] else None
        rows.setdefault((r["bytes"], r["connections"], r["target"]), []).append((rps, w["p99_us"] / 1000, cpu))
def med(xs, i):
    vals = [x[i] for x in xs if x[i] is not None]
    return statistics.median(vals) if vals else None
print("\n## Telemetry cost (D-basic: Telemetry:Enabled=true, the default; D-notel: false)\n")
print("The same support requests on two gateways of the same build, in the same rounds; medians of the rounds.\n")
print("| payload | conns | D-basic req/s | D-notel req/s | D-basic/D-notel | D-basic p99 ms | D-notel p99 ms | D-basic CPU µs/req | D-notel CPU µs/req |")
print("|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
ratios = []
for p, c in sorted({(k[0], k[1]) for k in rows}):
    d, n = rows.get((p, c, "D-basic"), []), rows.get((p, c, "D-notel"), [])
    if not d or not n:
        continue
    dr, nr = med(d, 0), med(n, 0)
    ratios.append(dr / nr)
    print(f"| {p} | {c} | {dr:,.0f} | {nr:,.0f} | {dr / nr:.3f} | {med(d, 1):.2f} | {med(n, 1):.2f} | {med(d, 2) or 0:.0f} | {med(n, 2) or 0:.0f} |")
if ratios:
    print(f"\nMedian D-basic/D-notel over the cases: {statistics.median(ratios):.3f} (telemetry costs {1 - statistics.median(ratios):.1%} of D's RPS).")
print("\n## Request-bound identity token cost (D-basic: Support:IdentityTokenBinding=request, the default; D-sbind: session)\n")
print("| payload | conns | D-basic req/s | D-sbind req/s | D-basic/D-sbind | D-basic CPU µs/req | D-sbind CPU µs/req | D-basic alloc/req | D-sbind alloc/req |")
print("|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
allocs = {}
for r in runs:
    if r["kind"] == "load" and r["target"] in ("D-basic", "D-sbind"):
        pr = r["procs"]["proxy"]
        a = pr["alloc_after"] - pr["alloc_before"] if isinstance(pr.get("alloc_after"), int) and isinstance(pr.get("alloc_before"), int) else None
        if a is not None and r["wrk"]["requests"]:
            allocs.setdefault((r["bytes"], r["connections"], r["target"]), []).append(a / r["wrk"]["requests"])
for p, c in sorted({(k[0], k[1]) for k in rows}):
    d, b = rows.get((p, c, "D-basic"), []), rows.get((p, c, "D-sbind"), [])
    if not d or not b:
        continue
    da, ba = allocs.get((p, c, "D-basic")), allocs.get((p, c, "D-sbind"))
    fa = lambda xs: f"{statistics.median(xs):,.0f} B" if xs else "—"
    print(f"| {p} | {c} | {med(d, 0):,.0f} | {med(b, 0):,.0f} | {med(d, 0) / med(b, 0):.3f} | {med(d, 2) or 0:.0f} | {med(b, 2) or 0:.0f} | {fa(da)} | {fa(ba)} |")
EOF
cp "bench/results/$stamp.md" bench/results/latest.md
log "results: bench/results/$stamp.json, bench/results/$stamp.md, bench/results/latest.md"
