"""The tables of the failing-collector benchmark (called by run.sh).

    render.py <results> <exit bound ms>

<results> has one line per run: `case=.. round=.. rps=.. p50=.. ...` (run.sh writes it). With
several rounds, each number in the tables is the median of that case's rounds, and the p99 and the
exit time of every round are listed too, so the spread is visible.
"""

import statistics
import sys

results, bound = sys.argv[1], int(sys.argv[2])
runs = {}  # case -> [run], in the order the cases ran
for line in open(results):
    run = dict(field.split("=", 1) for field in line.split())
    runs.setdefault(run["case"], []).append(run)


def median(case, key):
    values = [float(run[key]) for run in runs[case] if run[key] not in ("", "?")]
    return statistics.median(values) if values else float("nan")


def mib(kb):
    return f"{kb / 1024:.1f}"


rounds = max(len(r) for r in runs.values())
each = rounds > 1
print(f"Median of {rounds} rounds per case." if each else "One round per case.")
print()
header = "| case | req/s | p50 ms | p99 ms | max ms | errors | CPU ms / 1k req | RSS start / mid / end MiB | peak RSS MiB | exit after SIGTERM ms (guard drop) | exit - bound ms |"
if each:
    header += " p99 ms, each round | exit ms, each round |"
print(header)
print("|---" + "|---:" * (header.count("|") - 2) + "|")
for case in runs:
    m = {key: median(case, key) for key in runs[case][0] if key not in ("case", "round")}
    errors = sum(int(run["errors"]) for run in runs[case])
    row = (
        f"| {case} | {m['rps']:.0f} | {m['p50']:.2f} | {m['p99']:.2f} | {m['max']:.1f} | {errors} | {m['cpu']:.0f} "
        f"| {mib(m['rss_start'])} / {mib(m['rss_mid'])} / {mib(m['rss_end'])} | {mib(m['hwm'])} "
        f"| {m['exit']:.0f} ({m['guard']:.0f}) | {m['exit'] - bound:+.0f} |"
    )
    if each:
        row += " " + " / ".join(run["p99"] for run in runs[case]) + " | " + " / ".join(run["exit"] for run in runs[case]) + " |"
    print(row)

print()
print("Each case against working: ratios of req/s, p50, p99 and CPU per request; peak RSS difference;")
print(f"exit after SIGTERM against the bound (export timeout + 1 s = {bound} ms):")
print()
print("| case | req/s | p50 | p99 | CPU / req | peak RSS | exit |")
print("|---|---:|---:|---:|---:|---:|---|")
for case in runs:
    exit_ms = median(case, "exit")
    over = exit_ms - bound
    exit_text = f"{exit_ms:.0f} ms, " + (f"over the bound by {over:.0f} ms" if over > 0 else "within the bound")
    if "working" not in runs:
        print(f"| {case} | (no working run) | | | | | {exit_text} |")
        continue

    def ratio(key):
        base = median("working", key)
        return f"{median(case, key) / base:.2f}x" if base > 0 else "-"

    peak = (median(case, "hwm") - median("working", "hwm")) / 1024
    print(f"| {case} | {ratio('rps')} | {ratio('p50')} | {ratio('p99')} | {ratio('cpu')} | {peak:+.1f} MiB | {exit_text} |")
