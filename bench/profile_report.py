#!/usr/bin/env python3
"""Summarises `perf script` output of one proxy process under load (bench/run.sh, BENCH_PROFILE).

Usage: profile_report.py TARGET REQUESTS PERF_SCRIPT_TXT OUT_MD [ALLOC_BEFORE_JSON ALLOC_AFTER_JSON]

Reads the sampled call stacks (perf record -g, .NET JIT frames named through the runtime's
perf map, DOTNET_PerfMapEnabled=1) and writes:
  * self time by where the CPU was (kernel, GC and runtime, JIT, managed code by assembly);
  * inclusive time of the gateway's own methods (any frame of an assembly named Gateway);
  * the top self-time frames;
  * with the GC probe's two reads around the recording: allocation by type, sampled.
Percentages are of all samples of the process; "µs/req" divides the sampled CPU time by the
requests wrk completed during the recording.
"""
import collections
import re
import sys

import json

target, requests, script_path, out_path = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
alloc_paths = sys.argv[5:7]

HEADER = re.compile(r"^(\S.*?)\s+\d+\s+(\d+\.\d+):\s+(\d+)\s+\S+:")
FRAME = re.compile(r"^\s+[0-9a-f]+\s+(.*?)\s+\((.*)\)\s*$")
MANAGED = re.compile(r"\[([^\]]+)\]\s+(.*)")  # "instance void [Assembly] Namespace.Type::Method(...)"


def bucket(symbol, dso):
    if "kernel" in dso or dso.startswith("[") and dso != "[unknown]":
        return "kernel (syscalls, TCP, scheduling)"
    if dso.endswith("libclrjit.so"):
        return "JIT"
    if dso.endswith("libcoreclr.so"):
        low = symbol.lower()
        if "gc" in low or "alloc" in low or "mark" in low or "plan_phase" in low or "sweep" in low or "relocate" in low:
            return "runtime: GC and allocation"
        return "runtime: other (type checks, stubs, locks)"
    if dso.endswith(".so") or ".so." in dso:
        return "native: " + dso.rsplit("/", 1)[-1]
    if dso.startswith("/tmp/perf-") or dso.endswith(".map"):
        m = MANAGED.search(symbol)
        if m:
            return "managed: " + m.group(1)
        if symbol.startswith("stub<") or "Stub" in symbol:
            return "runtime: stubs"
        return "managed: (unnamed)"
    return "other: " + dso.rsplit("/", 1)[-1]


def short(symbol):
    m = MANAGED.search(symbol)
    name = m.group(2) if m else symbol
    name = re.sub(r"\[(OptimizedTier1|Tier0|Tier1|Optimized|QuickJitted|OptimizedTier1OSR|Instrumented Tier0|Instrumented Tier1|InstrumentedTier|InstrumentedTier1|PreJIT)\]", "", name)
    name = re.sub(r"\(.*\)", "(…)", name)
    return (("[" + m.group(1) + "] ") if m else "") + name.strip()


samples = []  # list of (weight_ns, [(symbol, dso), ...] leaf first, thread name)
with open(script_path, errors="replace") as f:
    current = None
    for line in f:
        if not line.strip():
            if current is not None and current[1]:
                samples.append(current)
            current = None
            continue
        if current is None:
            h = HEADER.match(line)
            current = (int(h.group(3)) if h else 0, [], h.group(1).strip() if h else "?")
            continue
        fm = FRAME.match(line)
        if fm:
            current[1].append((fm.group(1), fm.group(2)))
    if current is not None and current[1]:
        samples.append(current)

total = sum(s[0] for s in samples) or 1
self_bucket = collections.Counter()
self_frame = collections.Counter()
inclusive = collections.Counter()
# Telemetry: metric recording (System.Diagnostics.Metrics: instruments, listeners, the exporter's
# aggregation), activities/spans, OpenTelemetry and the gateway's own Telemetry namespace; a sample
# counts once if any frame of its stack is one of them.
TELEMETRY = re.compile(r"System\.Diagnostics\.Metrics\.|System\.Diagnostics\.Activity|OpenTelemetry|Gateway\.Telemetry\.|Prometheus")
telemetry = collections.Counter()
threads = collections.Counter()
tiers = collections.Counter()
TIER = re.compile(r"\[(OptimizedTier1|Tier0|Tier1|Optimized|QuickJitted|OptimizedTier1OSR|InstrumentedTier|InstrumentedTier1|PreJIT)\]\s*$")
for weight, frames, thread in samples:
    if MANAGED.search(frames[0][0]):
        t = TIER.search(frames[0][0])
        tiers[t.group(1) if t else "(untagged: ready-to-run or tier-1)"] += weight
    # Thread names: .NET names its workers (".NET TP Worker", ".NET Tiered Com" is the tier-1 JIT, ".NET SigHandler"...)
    threads[re.sub(r"\d+$", "", thread).strip() or "?"] += weight
    leaf_symbol, leaf_dso = frames[0]
    self_bucket[bucket(leaf_symbol, leaf_dso)] += weight
    self_frame[short(leaf_symbol) + ("" if MANAGED.search(leaf_symbol) else "  (" + leaf_dso.rsplit("/", 1)[-1] + ")")] += weight
    # OpenTelemetry's ASP.NET Core instrumentation wraps the whole request pipeline in one async
    # method (HttpServerErrorTypeStartupFilter): above a frame it is a caller, not telemetry work,
    # and counts only where it is the leaf.
    marked = [symbol for i, (symbol, _) in enumerate(frames)
              if TELEMETRY.search(symbol) and (i == 0 or "HttpServerErrorTypeStartupFilter" not in symbol)]
    if marked:
        telemetry["any telemetry frame on the stack"] += weight
        telemetry["  outermost: " + short(marked[-1])] += weight
    seen = set()
    for symbol, _ in frames:
        m = MANAGED.search(symbol)
        if m and m.group(1) == "Gateway":
            name = short(symbol)
            if name not in seen:
                seen.add(name)
                inclusive[name] += weight

cpu_us_per_req = total / 1000 / max(requests, 1)


def table(title, counter, limit, note=""):
    rows = [f"### {title}", ""]
    if note:
        rows += [note, ""]
    rows += ["| share | µs/req | where |", "|--:|--:|---|"]
    for name, weight in counter.most_common(limit):
        rows.append(f"| {100 * weight / total:5.1f} % | {cpu_us_per_req * weight / total:6.1f} | `{name.replace('|', '/')}` |")
    return rows + [""]


lines = [
    f"## Profile: {target}",
    "",
    f"{len(samples):,} samples, {total / 1e9:.2f} s of CPU in the proxy process over {requests:,} requests "
    f"= **{cpu_us_per_req:.1f} µs of CPU per request**.",
    "",
]
lines += table("Self time by where the CPU was", self_bucket, 25)
lines += table("Managed self time by code version", tiers, 10,
               "Steady state should run optimized code; `InstrumentedTier`/`Tier0` here mean the JIT had not finished tiering up.")
lines += table("By thread", threads, 12, "The thread names the runtime gives: `.NET TP Worker` runs requests, `.NET Tiered Com` is the background tier-1 JIT.")
lines += table("Inclusive time of the gateway's own methods", inclusive, 30,
               "A request's time under each method of the Gateway assembly, callees included (a sample counts once per method).")
lines += table("Telemetry", telemetry, 12,
               "Samples with a metrics, activity, OpenTelemetry or Gateway.Telemetry frame anywhere on the stack (the first row; "
               "OpenTelemetry's wrapper around the whole request pipeline counts only as a leaf), "
               "then by the outermost such frame: what recording and exporting the telemetry cost this process.")
lines += table("Top self-time frames", self_frame, 40)

if len(alloc_paths) == 2:
    before, after = (json.load(open(p)) for p in alloc_paths)
    allocated = after.get("allocated", 0) - before.get("allocated", 0)
    by_type = collections.Counter({t: v - before.get("allocByType", {}).get(t, 0) for t, v in after.get("allocByType", {}).items()})
    sampled = sum(v for v in by_type.values() if v > 0) or 1
    lines += [f"### Allocation by type (sampled)", "",
              f"{allocated / max(requests, 1):,.0f} bytes allocated per request in the recording (exact); the split by type is the "
              f"runtime's AllocationTick sample ({sampled / 1e6:,.0f} MB sampled), scaled to those bytes.", "",
              "| share | B/req | type |", "|--:|--:|---|"]
    for t, v in by_type.most_common(30):
        if v <= 0:
            break
        lines.append(f"| {100 * v / sampled:5.1f} % | {allocated / max(requests, 1) * v / sampled:6.0f} | `{t}` |")
    lines.append("")
open(out_path, "w").write("\n".join(lines))
print("\n".join(lines[:4]))
