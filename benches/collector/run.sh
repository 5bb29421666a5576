#!/usr/bin/env bash
# The failing-collector benchmark (issues 23 and 27): does a collector that fails hurt the service?
#
#   benches/collector/run.sh [seconds]     # seconds of load per case and round, default 20
#   ROUNDS=1 benches/collector/run.sh 10   # rounds (default 3): the cases interleaved, medians shown
#   RATE=0 benches/collector/run.sh 15     # closed loop: as many requests as answered (max throughput)
#   CASES="working silent" CONNECTIONS=16 RATE=1000 benches/collector/run.sh
#   SHUTDOWN_DETAIL=1 benches/collector/run.sh   # the service times each provider's shutdown
#   TIMEOUT_MS=5000 benches/collector/run.sh     # another OTEL_EXPORTER_OTLP_TIMEOUT (default 2000)
#   NICE=-10 benches/collector/run.sh      # as root: ahead of the machine's other work (see below)
#
# For each case the instrumented axum service (src/bin/service.rs: spans, metrics and one log
# record per request, OTLP/HTTP) runs as its own process, exporting to (src/bin/collector.rs):
#   working      an OTLP/HTTP sink that answers 200 (the baseline)
#   refusing     a closed loopback port (connection refused at once)
#   unreachable  a loopback port whose SYNs are dropped (connect times out), as a host that drops
#                packets; UNREACHABLE=<ip:port> uses a real address instead (e.g. 192.0.2.1:4318,
#                where that is not this machine's gateway)
#   silent       a server that accepts connections and never answers
# The load generator (src/bin/load.rs, one thread) sends RATE requests/s (default 2000) over
# CONNECTIONS keep-alive connections (default 32) for [seconds]; then the service gets SIGTERM and
# the time until it has exited is measured (it drains, then drops the setup guard, which flushes
# to the collector).
#
# Printed per case: requests/s, p50/p99/max latency, the service's CPU per 1000 requests, its RSS
# (VmRSS before, half-way and after the load, and each second; VmHWM = peak), the time from SIGTERM
# to exit against the bound (export timeout + 1 s), and what the collector saw; then each case
# against `working`. Also written to $CARGO_TARGET_DIR/collector-bench-report.md.
# Builds in release mode into CARGO_TARGET_DIR (default /tmp/collector-target, outside the repo).
# No assertion: it prints numbers. Every process it starts is stopped on exit, also on failure.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
seconds=${1:-20}
CONNECTIONS=${CONNECTIONS:-32}
RATE=${RATE:-2000}
CASES=${CASES:-working refusing unreachable silent}
ROUNDS=${ROUNDS:-3}
# NICE=-10 (root): the measured processes ahead of the machine's other work, whose bursts otherwise
# dominate the p99 on a shared machine. They use a small part of one core at the default rate.
NICE=${NICE:-0}
TIMEOUT_MS=${TIMEOUT_MS:-2000} # OTEL_EXPORTER_OTLP_TIMEOUT, ms
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/collector-target}
bin="$CARGO_TARGET_DIR/release"

work=$(mktemp -d /tmp/collector-bench.XXXXXX)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'echo "interrupted" >&2; exit 130' INT TERM

echo "building (release, CARGO_TARGET_DIR=$CARGO_TARGET_DIR)" >&2
(cd "$here" && nice -n 10 cargo build --release --locked 2>&1 | tail -1 >&2)

# The `addr=` line a program prints when it is ready.
address() { # file pid
    local addr alive
    for _ in $(seq 400); do
        # Alive before the file is read: a program that printed its address and exited still counts.
        alive=0 && kill -0 "$2" 2>/dev/null && alive=1
        addr=$(sed -n 's/^addr=//p' "$1")
        if [ -n "$addr" ]; then echo "$addr"; return 0; fi
        [ "$alive" = 1 ] || break
        sleep 0.025
    done
    echo "no address in $1: $(cat "${1%.out}.err" 2>/dev/null)" >&2
    return 1
}

status_kb() { awk -v key="$1:" '$1 == key { print $2 }' "/proc/$2/status"; }
cpu_ticks() { local f; read -r -a f <"/proc/$1/stat"; echo $((f[13] + f[14])); } # utime + stime
ticks_per_s=$(getconf CLK_TCK)

# Whether the child has exited (gone, or a zombie not yet reaped): no fork, so it can be polled fast.
exited() {
    local f
    [ -r "/proc/$1/stat" ] || return 0
    read -r -a f <"/proc/$1/stat" 2>/dev/null || return 0
    [ "${f[2]}" = Z ]
}

if [ "$RATE" = 0 ]; then
    mode="closed loop, as fast as answered"
    note="the load saturates them: the three processes compete for the cores"
else
    mode="$RATE requests/s"
    note="the load is kept modest so that none of them starves the others (RATE=0: the maximum)"
fi
{
    echo "collector benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)), load average $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "load: ${seconds}s per case and round, $ROUNDS round(s), $CONNECTIONS keep-alive connections, $mode (the load generator is one thread), nice $NICE"
    echo "note: service, collector and load generator share these $(nproc) cores; $note"
    echo "service: OTEL_BSP_SCHEDULE_DELAY=200 OTEL_METRIC_EXPORT_INTERVAL=1000 OTEL_EXPORTER_OTLP_TIMEOUT=$TIMEOUT_MS (http/protobuf)"
    echo "exit bound: export timeout + 1 s = $((TIMEOUT_MS + 1000)) ms"
    echo
} >"$work/header"
cat "$work/header" >&2

# One run of one case: results appended to $work/results (one line) and $work/details.
run_case() { # case round
    local case=$1 round=$2 collector_pid collector_addr service service_addr guard_bound_ms load samples
    local rss_start rss_end hwm cpu_start cpu_end start_ns killed exit_ms shutdown guard_ms other
    local collector_saw requests rps p50 p99 max errors cpu_ms_per_1k rss_mid series
    echo "== $case, round $round of $ROUNDS (load average $(cut -d' ' -f1-3 /proc/loadavg))" >&2
    collector_pid=
    if [ "$case" = unreachable ] && [ -n "${UNREACHABLE:-}" ]; then
        collector_addr=$UNREACHABLE
    else
        nice -n "$NICE" "$bin/collector" "$case" >"$work/$case.$round.collector.out" 2>"$work/$case.$round.collector.err" &
        collector_pid=$!
        pids+=("$collector_pid")
        collector_addr=$(address "$work/$case.$round.collector.out" "$collector_pid")
        # `refusing` exits once it has found a free port: nothing listens there any more.
        [ "$case" = refusing ] && { wait "$collector_pid" || true; collector_pid=; }
    fi

    OTEL_SERVICE_NAME=collector-bench \
        OTEL_EXPORTER_OTLP_ENDPOINT="http://$collector_addr" \
        OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf \
        OTEL_BSP_SCHEDULE_DELAY=200 \
        OTEL_METRIC_EXPORT_INTERVAL=1000 \
        OTEL_EXPORTER_OTLP_TIMEOUT=$TIMEOUT_MS \
        nice -n "$NICE" "$bin/service" >"$work/$case.$round.service.out" 2>"$work/$case.$round.service.err" &
    service=$!
    pids+=("$service")
    service_addr=$(address "$work/$case.$round.service.out" "$service")
    guard_bound_ms=$(sed -n 's/^shutdown_bound_ms=//p' "$work/$case.$round.service.out")

    sleep 1 # the first exports (and, failing, the first failures) before the measurement
    rss_start=$(status_kb VmRSS "$service")
    cpu_start=$(cpu_ticks "$service")
    nice -n "$NICE" "$bin/load" "$service_addr" "$seconds" "$CONNECTIONS" "$RATE" >"$work/$case.$round.load" &
    load=$!
    pids+=("$load")
    # VmRSS once a second while the load runs: flat, or growing?
    samples=()
    until exited "$load"; do
        samples+=("$(status_kb VmRSS "$service")")
        sleep 1
    done
    wait "$load"
    rss_end=$(status_kb VmRSS "$service")
    hwm=$(status_kb VmHWM "$service")
    cpu_end=$(cpu_ticks "$service")

    # From SIGTERM to the process being gone: drain, guard drop (the final exports), runtime exit.
    start_ns=$(date +%s%N)
    kill -TERM "$service"
    killed=
    until exited "$service"; do
        if [ -z "$killed" ] && [ $(($(date +%s%N) - start_ns)) -gt 30000000000 ]; then
            kill -KILL "$service"
            killed=" KILLED after 30 s"
        fi
        sleep 0.002
    done
    exit_ms=$((($(date +%s%N) - start_ns) / 1000000))
    wait "$service" || true

    if [ -n "$collector_pid" ]; then
        kill -TERM "$collector_pid" && wait "$collector_pid" || true
    fi
    collector_saw=$(sed -n 's/^collector: //p' "$work/$case.$round.collector.err" 2>/dev/null | head -1)
    shutdown=$(sed -n 's/^service: shutdown //p' "$work/$case.$round.service.err" | head -1)
    guard_ms=$(sed -n 's/.*guard_drop_ms=\([0-9]*\).*/\1/p' <<<"$shutdown")
    other=$(grep -v '^service: shutdown' "$work/$case.$round.service.err" | head -3 || true)

    read -r requests rps p50 p99 max errors < <(awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } }
        END { print v["requests"], v["rps"], v["p50_ms"], v["p99_ms"], v["max_ms"], v["errors"] }' "$work/$case.$round.load")
    cpu_ms_per_1k=$(awk -v t="$((cpu_end - cpu_start))" -v hz="$ticks_per_s" -v n="$requests" \
        'BEGIN { printf "%.0f", (n > 0 ? t * 1000 / hz / n * 1000 : 0) }')
    rss_mid=${samples[$((${#samples[@]} / 2))]:-$rss_start}
    series=$(for kb in "${samples[@]}"; do awk -v k="$kb" 'BEGIN { printf "%.1f ", k / 1024 }'; done)
    echo "case=$case round=$round rps=$rps p50=$p50 p99=$p99 max=$max errors=$errors cpu=$cpu_ms_per_1k rss_start=$rss_start rss_mid=$rss_mid rss_end=$rss_end hwm=$hwm exit=$exit_ms guard=${guard_ms:-?} guard_bound=$guard_bound_ms" >>"$work/results"
    {
        echo "$case (round $round): $(cat "$work/$case.$round.load")"
        echo "  service: RSS MiB each second under load: ${series% }"
        echo "  service: RSS ${rss_start} kB -> ${rss_end} kB, peak ${hwm} kB; exit ${exit_ms} ms after SIGTERM${killed} ($shutdown; guard bound ${guard_bound_ms} ms)"
        [ -n "$other" ] && echo "  service also said: $other"
        echo "  collector ($collector_addr): ${collector_saw:-nothing to report}"
    } | tee -a "$work/details" >&2
}

# Rounds interleave the cases, so that a busy moment of the machine does not fall on one case only.
for round in $(seq "$ROUNDS"); do
    for case in $CASES; do
        run_case "$case" "$round"
    done
done

{
    cat "$work/header"
    python3 "$here/render.py" "$work/results" $((TIMEOUT_MS + 1000))
    echo
    cat "$work/details"
} | tee "$work/report"
cp "$work/report" "$CARGO_TARGET_DIR/collector-bench-report.md"
echo >&2
echo "(also written to $CARGO_TARGET_DIR/collector-bench-report.md)" >&2
