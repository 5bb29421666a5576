"""Writes BENCHMARKS.md from the results of run.sh (target/results/*). Called by run.sh after
every case, so the file always holds what was measured so far and says what was not."""
import datetime, os, platform, re, subprocess, sys

out, dest, n, alloc_n, time_n, passes = sys.argv[1:7]
here = os.path.dirname(os.path.abspath(__file__))

CASES = {
    "axum": ["bare", "reference-sampled", "reference-unsampled", "ours-sampled", "ours-unsampled", "ours-unsampled00", "ours-excluded",
             "otel-instrumentation-tower-sampled", "otel-instrumentation-tower-unsampled",
             "axum-tracing-otel-sampled", "axum-tracing-otel-unsampled",
             "tower-http-trace-sampled", "tower-http-trace-unsampled"],
    "actix": ["bare", "reference-sampled", "reference-unsampled", "ours-sampled", "ours-unsampled", "ours-unsampled00", "ours-excluded",
              "otel-instrumentation-actix-sampled", "otel-instrumentation-actix-unsampled",
              "tracing-actix-web-sampled", "tracing-actix-web-unsampled"],
    "reqwest": ["plain", "middleware-only", "ours-sampled", "ours-unsampled", "ours-unsampled00",
                "reqwest-tracing-sampled", "reqwest-tracing-unsampled"],
    "grpc": ["bare", "ours-sampled", "ours-unsampled", "ours-unsampled00", "ours-http-sampled", "ours-http-unsampled"],
}
LABELS = {
    "bare": "bare framework", "plain": "plain reqwest",
    "middleware-only": "reqwest-middleware, no middleware",
    "reference": "hand-written reference", "ours": "**ours**",
    "otel-instrumentation-tower": "opentelemetry-instrumentation-tower",
    "axum-tracing-otel": "axum-tracing-opentelemetry",
    "tower-http-trace": "tower-http TraceLayer + tracing-opentelemetry",
    "otel-instrumentation-actix": "opentelemetry-instrumentation-actix-web",
    "tracing-actix-web": "tracing-actix-web + tracing-opentelemetry",
    "reqwest-tracing": "reqwest-tracing + tracing-opentelemetry",
    "ours-http": "ours with `grpc(false)` (the call as plain HTTP)",
}
# (added instructions, added allocations) per request at most, versus bare (issue 8).
TARGETS = {
    ("axum", "ours-sampled"): (10000, 12), ("axum", "ours-unsampled"): (4500, 6), ("axum", "ours-unsampled00"): (4500, 6), ("axum", "ours-excluded"): (1400, 3),
    ("actix", "ours-sampled"): (9000, 9), ("actix", "ours-unsampled"): (2500, 2), ("actix", "ours-unsampled00"): (2500, 2), ("actix", "ours-excluded"): (500, 0),
    ("reqwest", "ours-sampled"): (12000, 12), ("reqwest", "ours-unsampled"): (5000, 4), ("reqwest", "ours-unsampled00"): (5000, 4),
}


def read(framework, kind):
    rows = {}
    try:
        for line in open(os.path.join(out, f"{framework}.{kind}")):
            kv = dict(p.split("=", 1) for p in line.split() if "=" in p)
            if "case" in kv:
                rows[kv["case"]] = kv
    except FileNotFoundError:
        pass
    return rows


def label(case):
    if case.endswith("-unsampled00"):
        return f"{LABELS[case[:-12]]}, unsampled (caller's flags 00)"
    for mode in ("-sampled", "-unsampled", "-excluded"):
        if case.endswith(mode):
            return f"{LABELS[case[:-len(mode)]]}, {mode[1:]}"
    return LABELS[case]


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=60).stdout.strip()
    except Exception:
        return "?"


def locked_versions():
    text = open(os.path.join(here, "Cargo.lock")).read()
    versions = {}
    for name, version in re.findall(r'name = "([^"]+)"\nversion = "([^"]+)"', text):
        versions.setdefault(name, []).append(version)
    return versions


def fmt(x):
    return f"{x:,.0f}" if abs(x) >= 10 else f"{x:,.2f}".rstrip("0").rstrip(".")


def added(value, base):
    if value is None or base is None:
        return "–"
    d = value - base
    return ("+" if d >= 0 else "−") + fmt(abs(d))


data = {}
for fw in CASES:
    count, instr, time, wrk = read(fw, "count"), read(fw, "instr"), read(fw, "time"), read(fw, "wrk")
    data[fw] = {}
    for case in CASES[fw]:
        c, i, t, w = count.get(case, {}), instr.get(case, {}), time.get(case, {}), wrk.get(case, {})
        data[fw][case] = {
            "instr": int(i["instructions_per_request"]) if "instructions_per_request" in i else None,
            "alloc": float(c["allocations_per_request"]) if "allocations_per_request" in c else None,
            "check": c.get("span_check"), "spans": c.get("spans"), "parented": c.get("parented"),
            "expected": c.get("expected"),
            "ns": (float(t["ns_median"]), float(t["ns_min"]), float(t["ns_max"])) if "ns_median" in t else None,
            "rps": float(w["rps"]) if "rps" in w else None, "ratio": float(w["ratio"]) if "ratio" in w else None,
            "ratio_range": w.get("ratio_range", ""), "runs": w.get("runs", "1"),
        }

v = locked_versions()
ver = lambda name: ", ".join(v.get(name, ["?"]))
lines = []
w = lines.append
w("# Benchmarks: our adapters against the peers")
w("")
w("Written by `benches/peers/run.sh` (issue 8); do not edit by hand, run the script again.")
w("")
w(f"- Date: {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}")
cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip()
w(f"- Machine: {cpu or platform.processor()}, {os.cpu_count()} CPUs, Linux {platform.release()}; "
  "shared with other builds while measuring (instruction and allocation counts do not care; ns do)")
w(f"- Toolchain: {sh('rustc --version')}, release profile; {sh('valgrind --version')}")
w(f"- Ours: otel-tower, otel-actix, otel-reqwest from this repository (opentelemetry {ver('opentelemetry').split(', ')[-1]})")
w(f"- Peers: opentelemetry-instrumentation-tower {ver('opentelemetry-instrumentation-tower')}, "
  f"opentelemetry-instrumentation-actix-web {ver('opentelemetry-instrumentation-actix-web')}, "
  f"axum-tracing-opentelemetry {ver('axum-tracing-opentelemetry')}, tower-http {ver('tower-http')}, "
  f"tracing-actix-web {ver('tracing-actix-web')} (feature `opentelemetry_0_32`), "
  f"reqwest-tracing {ver('reqwest-tracing')} (feature `opentelemetry_0_32`), "
  f"tracing-opentelemetry {ver('tracing-opentelemetry')}")
w(f"- Frameworks: axum {ver('axum')}, actix-web {ver('actix-web')}, reqwest {ver('reqwest')}, "
  f"reqwest-middleware {ver('reqwest-middleware')}; opentelemetry {ver('opentelemetry')}, "
  f"opentelemetry_sdk {ver('opentelemetry_sdk')}")
w("")
w("## How it is measured")
w("")
w("`benches/peers/` is a cargo workspace of its own (its own `Cargo.lock` and `target/`), so the "
  "peers' dependencies, some on another opentelemetry version, never enter the main lockfile; it is "
  "not part of `scripts/test.sh`. One binary per framework (`src/bin/{axum,actix,reqwest}.rs`) runs "
  "the same request through every case:")
w("")
w("- axum: `GET /users/7` with `Host` and a sampled `traceparent`, through `Router::oneshot` in "
  "process, body read to the end.")
w("- actix-web: `GET /users/42` with `Host`, a sampled `traceparent` and a peer address, through "
  "`actix_web::test::init_service`, body read to the end.")
w("- tonic (gRPC): a unary `helloworld.Greeter/SayHello` call as a tonic client sends it (HTTP/2, "
  "`content-type: application/grpc`, `te: trailers`, tonic's `user-agent`, the authority in the URI, a "
  "sampled `traceparent`, a 7-byte message) through the gRPC example's tonic service "
  "(`examples/src/greeter.rs`) in process, the response read to its trailers. `ours` is otel-tower's "
  "`OtelLayer` in its default gRPC mode; `ours with grpc(false)` is the same layer giving the same call "
  "HTTP semantics, the figure the gRPC mode is held to (issue 22: at most 1.2 times it, sampled).")
w("- reqwest: `GET /users/42` over one keep-alive loopback connection to a plain axum server in a "
  "child process (neither callgrind nor the allocator sees the server); the caller's remote sampled "
  "context is current (for the tracing-based peer: as OpenTelemetry 0.32's current context, which "
  "tracing-opentelemetry uses as the parent of a root span).")
w("")
w("Every instrumented case uses the opentelemetry SDK of the version that crate needs, a batch span "
  "processor (queue of 131,072, so no span is dropped for a full queue) and an exporter that drops "
  "spans after counting them and checking their parent. `-sampled` is the always-on sampler, "
  "`-unsampled` the always-off sampler (same request, same sampled `traceparent`). The span check "
  "column proves exactly one exported span per sampled request, each a child of the caller's span "
  "(and none for the others). Peers run with their defaults, configured as their documentation "
  "shows: the ones built on `tracing` get a `tracing_subscriber::registry()` with their "
  "tracing-opentelemetry layer and an INFO level filter (production-like; axum-tracing-opentelemetry "
  "with its `tracing_level_info` feature so its spans pass that filter), the W3C propagator as the "
  "global one; opentelemetry-instrumentation-tower with metrics off (tracing only), on the global "
  "provider (it takes no other); tower-http's `TraceLayer::new_for_http()` with a `make_span_with` "
  "that sets the extracted parent.")
w("")
w("`ours, unsampled (caller's flags 00)` is the always-off sampler with a `traceparent` whose flags are "
  "`00` (the caller did not sample), the way the adapters' READMEs measured \"unsampled\"; the plain "
  "`unsampled` rows keep the sampled `traceparent`, so the sampler is asked and says no.")
w("")
w("The **hand-written reference** (in `src/bin/axum.rs` and `src/bin/actix.rs`) is the least a server "
  "instrumentation can do: strict `traceparent` parse, static strings (span name and "
  "`http.request.method`), the SDK span started as the caller's child, `http.response.status_code` "
  "when recording, ended with the response head. It does not make the context current for the "
  "handler, record the route, path, address or any other attribute, nor wait for the body.")
w("")
w(f"- **instructions / request**: `valgrind --tool=callgrind`, whole process (every thread: the batch "
  f"processor's too), (instr(N) − instr(0)) / N with N = {n} after the same 500-request warm-up.")
w(f"- **allocations / request**: a counting `#[global_allocator]` (allocations and reallocations, every "
  f"thread), {alloc_n} requests after the warm-up, spans flushed before counting.")
w(f"- **CPU ns / request**: process CPU time (`CLOCK_PROCESS_CPUTIME_ID`, every thread), {passes} passes of "
  f"{time_n} requests: median (min–max). Noisy on this shared 2-CPU machine; prefer the instructions.")
w("")
w("Reproduce: `benches/peers/run.sh` (valgrind required; wrk for the throughput section; "
  "`N=… ALLOC_N=… TIME_N=… PASSES=…` to change the counts; `SMOKE=1` for a quick span-count check "
  "of every case). Per case by hand: `cd benches/peers && cargo build --release && "
  "target/release/axum ours-sampled 10000`, `valgrind --tool=callgrind target/release/actix bare 5000`, "
  "`target/release/reqwest time plain 5000 7`.")
w("")

w("## Summary")
w("")
for fw, title, base in (("axum", "axum", "bare"), ("actix", "actix-web", "bare"), ("reqwest", "reqwest", "plain"),
                        ("grpc", "tonic (gRPC)", "bare")):
    d = data[fw]
    for mode in ("sampled", "unsampled"):
        rows = [(c, d[c]) for c in CASES[fw] if c.endswith("-" + mode) and not c.startswith("reference")]
        if d[base]["instr"] is None or any(r["instr"] is None or r["alloc"] is None for _, r in rows):
            w(f"- {title}, {mode}: not every case measured yet")
            continue
        rows.sort(key=lambda cr: cr[1]["instr"])
        parts = [f"{LABELS[c[:-len(mode) - 1]].replace('**', '')} +{r['instr'] - d[base]['instr']:,} instructions / "
                 f"+{r['alloc'] - d[base]['alloc']:.0f} allocations" for c, r in rows]
        w(f"- {title}, {mode}, added per request, fewest first: " + "; ".join(parts) + ".")
w("")

missing = []
for fw, title, base in (("axum", "axum", "bare"), ("actix", "actix-web", "bare"), ("reqwest", "reqwest (client)", "plain"),
                        ("grpc", "tonic (gRPC server)", "bare")):
    d = data[fw]
    b = d[base]
    w(f"## {title}")
    w("")
    w(f"| case | instructions / request | added vs {base} | allocations / request | added vs {base} | CPU ns / request, median (min–max) | spans exported (check) |")
    w("|---|---:|---:|---:|---:|---:|---|")
    for case in CASES[fw]:
        r = d[case]
        if r["instr"] is None and r["alloc"] is None and r["ns"] is None:
            missing.append(f"{title}: {label(case)}")
        ns = f"{r['ns'][0]:,.0f} ({r['ns'][1]:,.0f}–{r['ns'][2]:,.0f})" if r["ns"] else "not measured"
        check = "not measured" if r["check"] is None else (
            (f"{int(r['spans']):,} of {int(r['expected']):,}, all children of the caller: {r['check']}" if r["expected"] != "0"
             else f"none, as expected: {r['check']}") if r["spans"] is not None else "FAILED")
        w(f"| {label(case)} | {fmt(r['instr']) if r['instr'] is not None else 'not measured'} | "
          f"{added(r['instr'], b['instr']) if case != base else ''} | "
          f"{fmt(r['alloc']) if r['alloc'] is not None else 'not measured'} | "
          f"{added(r['alloc'], b['alloc']) if case != base else ''} | {ns} | {check} |")
    w("")
    if fw == "grpc":
        o, h, ax = d["ours-sampled"], d["ours-http-sampled"], data["axum"]["ours-sampled"]
        if None in (o["instr"], h["instr"], b["instr"]):
            w("The gRPC mode against the HTTP figure: not measured yet.")
        else:
            grpc_added, http_added = o["instr"] - b["instr"], h["instr"] - b["instr"]
            line = (f"The gRPC mode against the HTTP figure, sampled, added instructions: {grpc_added / http_added:.2f} times "
                    f"the same call as HTTP ({fmt(grpc_added)} / {fmt(http_added)})")
            if ax["instr"] is not None and data["axum"]["bare"]["instr"] is not None:
                axum_added = ax["instr"] - data["axum"]["bare"]["instr"]
                line += f", {grpc_added / axum_added:.2f} times axum's `GET /users/7` ({fmt(grpc_added)} / {fmt(axum_added)})"
            w(line + "; the bound (issue 22) is 1.2.")
        w("")
    if fw in ("axum", "actix"):
        w(f"Ours as a ratio to the hand-written reference (added over bare, ours ÷ reference):")
        w("")
        w("| mode | instructions ours / reference | allocations ours / reference |")
        w("|---|---:|---:|")
        for mode in ("sampled", "unsampled"):
            o, r_ = d[f"ours-{mode}"], d[f"reference-{mode}"]
            def ratio(key):
                if None in (o[key], r_[key], b[key]):
                    return "not measured"
                ref = r_[key] - b[key]
                our = o[key] - b[key]
                return f"{our / ref:.2f} ({fmt(our)} / {fmt(ref)})" if ref > 0 else f"– ({fmt(our)} / {fmt(ref)})"
            w(f"| {mode} | {ratio('instr')} | {ratio('alloc')} |")
        w("")

w("## Ours against the targets (issue 8)")
w("")
w("| adapter, case | added instructions | target | added allocations | target | met |")
w("|---|---:|---:|---:|---:|---|")
for (fw, case), (ti, ta) in TARGETS.items():
    d = data[fw]
    base = d["plain" if fw == "reqwest" else "bare"]
    r = d[case]
    if r["instr"] is None or r["alloc"] is None or base["instr"] is None or base["alloc"] is None:
        w(f"| otel-{'tower' if fw == 'axum' else fw}, {case[5:]} | not measured | {ti:,} | not measured | {ta} | |")
        continue
    ai, aa = r["instr"] - base["instr"], r["alloc"] - base["alloc"]
    met = ("yes" if ai <= ti and aa <= ta + 0.05 else
           "allocations only" if aa <= ta + 0.05 else "instructions only" if ai <= ti else "no")
    w(f"| otel-{'tower' if fw == 'axum' else fw}, {label(case)[10:]} | {ai:+,} | {ti:,} | {aa:+.2f} | {ta} | {met} |")
w("")
notes = os.path.join(here, "analysis.md")
if os.path.exists(notes):
    w(open(notes).read().rstrip())
    w("")

w("## Loopback throughput (wrk)")
w("")
if any(data[fw][c]["ratio"] is not None for fw in ("axum", "actix") for c in CASES[fw]):
    load = open(os.path.join(out, "wrk.load")).read().strip().split("=")[1] if os.path.exists(os.path.join(out, "wrk.load")) else "?"
    w("`benches/peers/wrk.sh`: the case's real server (one thread; actix: one worker) pinned to one CPU "
      "with `taskset`, `wrk -t1 -c16 -d" + os.environ.get("DURATION", "5") + "s` pinned to the other, every request with a sampled "
      "`traceparent` (and wrk's own `Host`; in a trial, overriding it with `-H 'host: …'` cut actix-web's "
      "rate about fourfold for every case, bare included, so the script does not); cases interleaved with a bare run before and after, ratio = the case's "
      "requests/s over the mean of those two bare runs; the median over the rounds, and the range. "
      f"The machine was shared with other engineers' builds (load average at the end: {load}) and every "
      "process ran under `nice -n 19`, so a competing build takes CPU from the server at random: "
      "these ratios are indicative only, the instruction counts above are the repeatable numbers.")
    w("")
    w("| framework | case | requests/s (median) | ratio to bare (median) | ratio range | rounds |")
    w("|---|---|---:|---:|---|---:|")
    for fw in ("axum", "actix"):
        for c in CASES[fw]:
            r = data[fw][c]
            if r["rps"] is not None:
                w(f"| {fw} | {label(c)} | {r['rps']:,.0f} | {r['ratio']:.3f} | {r['ratio_range'].replace('-', '–')} | {r['runs']} |")
else:
    w("Not measured in this run (see below).")
w("")
# Measured by each crate's own benchmark, not by run.sh: written by hand, kept across runs.
crate_figures = os.path.join(here, "metrics.md")
if os.path.exists(crate_figures):
    w(open(crate_figures).read().rstrip())
    w("")
w("## Not measured")
w("")
if missing:
    for m in missing:
        w(f"- {m}: no result in this run (the run was cut short, or the case failed: see run.sh's output)")
else:
    w("- Every case above was measured.")
extra = os.path.join(here, "not-measured.md")
if os.path.exists(extra):
    w(open(extra).read().rstrip())
w("")
open(dest, "w").write("\n".join(lines))
