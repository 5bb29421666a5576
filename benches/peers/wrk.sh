#!/usr/bin/env bash
# Loopback throughput with wrk (called by run.sh): each case's server (`<bin> serve <case>`, one
# thread / one actix worker) pinned to CPU 1, wrk pinned to CPU 0, cases interleaved with their bare
# baseline (bare, case, bare, case, ...); the ratio is the case's requests/s over the mean of the bare
# runs just before and after it; ROUNDS rounds, the median ratio (and requests/s) reported. Everything
# under `nice -n 19` (a shared machine: treat as indicative).
#   wrk.sh <results dir>      DURATION=5 CONNECTIONS=16 ROUNDS=3
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$1
bin="$here/target/release"
duration=${DURATION:-5}
connections=${CONNECTIONS:-16}
rounds=${ROUNDS:-3}
traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

rps() { # binary case path
    local fifo pid addr result
    fifo=$(mktemp -u) && mkfifo "$fifo"
    nice -n 19 taskset -c 1 "$bin/$1" serve "$2" >"$fifo" 2>/dev/null &
    pid=$!
    read -r addr <"$fifo"
    rm -f "$fifo"
    result=$(nice -n 19 taskset -c 0 wrk -t1 -c"$connections" -d"${duration}s" \
        -H "traceparent: $traceparent" "http://$addr$3" \
        | awk '/Requests\/sec/ {print $2}')
    # SIGKILL: actix-web shuts down gracefully on SIGTERM, which can outlive the next run.
    kill -KILL "$pid" && wait "$pid" 2>/dev/null || true
    echo "$result"
}

for framework in axum actix; do
    path=/users/7
    cases="reference-sampled ours-sampled ours-unsampled ours-excluded otel-instrumentation-tower-sampled axum-tracing-otel-sampled tower-http-trace-sampled"
    if [ "$framework" = actix ]; then
        path=/users/42
        cases="reference-sampled ours-sampled ours-unsampled ours-excluded otel-instrumentation-actix-sampled tracing-actix-web-sampled"
    fi
    raw="$out/$framework.wrk.raw"
    : >"$raw"
    for round in $(seq "$rounds"); do
        before=$(rps "$framework" bare "$path")
        echo "case=bare rps=$before ratio=1" >>"$raw"
        for case in $cases; do
            echo "wrk $framework $case (round $round)" >&2
            r=$(rps "$framework" "$case" "$path")
            after=$(rps "$framework" bare "$path")
            ratio=$(python3 -c "print(f'{$r / (($before + $after) / 2):.3f}')")
            echo "case=$case rps=$r ratio=$ratio bare_before=$before bare_after=$after" >>"$raw"
            echo "case=bare rps=$after ratio=1" >>"$raw"
            before=$after
        done
    done
    # The median over the rounds, per case.
    python3 - "$raw" >"$out/$framework.wrk" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    kv = dict(p.split("=", 1) for p in line.split())
    rows.setdefault(kv["case"], []).append((float(kv["rps"]), float(kv["ratio"])))
for case, values in rows.items():
    rps = statistics.median(v[0] for v in values)
    ratio = statistics.median(v[1] for v in values)
    spread = f"{min(v[1] for v in values):.3f}-{max(v[1] for v in values):.3f}"
    print(f"case={case} rps={rps:.0f} ratio={ratio:.3f} ratio_range={spread} runs={len(values)}")
PY
done
echo "load=$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' ',')" >"$out/wrk.load"
