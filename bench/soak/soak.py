#!/usr/bin/env python3
"""Soak benchmark (issue 7; not in CI): the standard mix at a high rate for a long time while
sampling the server's RSS, open file descriptors, threads and per-interval p99 latencies, to
show they stay flat.

  bench/soak/soak.py [--build DIR] [--duration 600] [--throughput 3000] [--connections 64]
                     [--interval 10] [--out bench/soak/RESULTS-soak.md] [--server-args "..."]

allezon-loadgen drives allezon-server with the testing platform's stream (one profile query
per 10 tags, one aggregates query per 1,000, every answer checked; debug bodies on). Every
--interval seconds the script reads /proc/<pid> and GET /metrics; p99 per interval comes from
the deltas of the server's latency histograms (bucket upper bound, so it is a ceiling).
Writes a CSV next to the markdown report and prints both.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def metrics(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        return r.read().decode()


def histograms(text):
    """{endpoint: [(le, cumulative count), ...]} of allezon_http_request_duration_seconds."""
    out = {}
    for m in re.finditer(r'^allezon_http_request_duration_seconds_bucket\{endpoint="([^"]+)",'
                         r'le="([^"]+)"\} (\d+)$', text, re.M):
        le = float("inf") if m.group(2) == "+Inf" else float(m.group(2))
        out.setdefault(m.group(1), []).append((le, int(m.group(3))))
    return out


def sample_value(text, name):
    m = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def p99_ms(now, before):
    """p99 (bucket upper bound, ms) of the requests between two histogram snapshots."""
    if not now:
        return None
    prev = dict(before or [])
    deltas = [(le, c - prev.get(le, 0)) for le, c in now]
    total = deltas[-1][1]
    if total <= 0:
        return None
    for le, c in deltas:
        if c >= 0.99 * total:
            return le * 1000
    return float("inf")


def proc_status(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    kb = lambda k: int(fields.get(k, "0 kB").split()[0]) / 1024
    return {
        "rss_mb": kb("VmRSS"),
        "anon_mb": kb("RssAnon"),
        "file_mb": kb("RssFile"),
        "threads": int(fields.get("Threads", "0")),
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build-perf"))
    ap.add_argument("--duration", type=int, default=600, help="seconds of load")
    ap.add_argument("--throughput", type=int, default=3000, help="tags/s (0 = flat out)")
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--interval", type=int, default=10)
    ap.add_argument("--server-args", default="")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "soak", "RESULTS-soak.md"))
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="allezon-soak.")
    server_log = open(os.path.join(work, "server.log"), "w")
    server = subprocess.Popen(
        [os.path.join(args.build, "server", "allezon-server"), "--port", "0", "--port-file",
         os.path.join(work, "port"), "--data-dir", os.path.join(work, "data")]
        + args.server_args.split(), stdout=server_log, stderr=subprocess.STDOUT)
    port_file = os.path.join(work, "port")
    for _ in range(400):
        if os.path.exists(port_file) and open(port_file).read().strip():
            break
        time.sleep(0.05)
    port = int(open(port_file).read())
    report = os.path.join(work, "report.json")
    loadgen = subprocess.Popen(
        [os.path.join(args.build, "bench", "allezon-loadgen"), "--host", "127.0.0.1", "--port",
         str(port), "--seed", "1", "--throughput", str(args.throughput), "--connections",
         str(args.connections), "--duration", f"{args.duration}s", "--progress", "off",
         "--report", report], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    rows = []
    start = time.time()
    prev_hist, prev_tags, prev_t = {}, 0.0, start
    while loadgen.poll() is None:
        time.sleep(args.interval)
        try:
            text = metrics(port)
        except OSError as e:
            print(f"metrics failed: {e}", file=sys.stderr)
            continue
        now = time.time()
        hist = histograms(text)
        tags = sample_value(text, "allezon_tags_written_total")
        row = {"t_s": round(now - start), **proc_status(server.pid),
               "tags": int(tags), "tags_per_s": round((tags - prev_tags) / (now - prev_t)),
               "map_used_mb": sample_value(text, "allezon_db_map_used_bytes") / 2**20,
               "staged_tags": int(sample_value(text, "allezon_profile_staged_tags")),
               "profile_log_tags": int(sample_value(text, "allezon_profile_log_tags")),
               "tags_p99_ms": p99_ms(hist.get("user_tags"), prev_hist.get("user_tags")),
               "profiles_p99_ms": p99_ms(hist.get("user_profiles"),
                                         prev_hist.get("user_profiles")),
               "aggregates_p99_ms": p99_ms(hist.get("aggregates"), prev_hist.get("aggregates"))}
        rows.append(row)
        print(json.dumps(row), flush=True)
        prev_hist, prev_tags, prev_t = hist, tags, now
    loadgen_out = loadgen.stdout.read()
    server.terminate()
    server.wait(timeout=30)

    csv = os.path.splitext(args.out)[0] + ".csv"
    keys = list(rows[0].keys()) if rows else []
    with open(csv, "w") as f:
        f.write(",".join(keys) + "\n")
        for r in rows:
            f.write(",".join("" if r[k] is None else (f"{r[k]:.1f}" if isinstance(r[k], float)
                                                      else str(r[k])) for k in keys) + "\n")

    def window(rs, key):
        vals = [r[key] for r in rs if r[key] is not None]
        return (min(vals), max(vals)) if vals else (None, None)

    minute = max(1, 60 // args.interval)
    first, last = rows[minute:2 * minute], rows[-minute:]
    lines = [
        "# Soak benchmark (issue 7)",
        "",
        f"`bench/soak/soak.py --duration {args.duration} --throughput {args.throughput} "
        f"--connections {args.connections} --interval {args.interval}"
        + (f" --server-args \"{args.server_args}\"" if args.server_args else "") + "`, "
        f"{os.cpu_count()} cores, {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}. "
        "Server and load generator on the same machine; sync on (fsync per group commit).",
        "",
        "| | 2nd minute (min–max) | last minute (min–max) |",
        "|---|---|---|",
    ]
    for key, label in [("rss_mb", "RSS MiB"), ("anon_mb", "anonymous RSS MiB (heap)"),
                       ("file_mb", "file RSS MiB (LMDB pages)"), ("fds", "open fds"),
                       ("threads", "threads"), ("tags_per_s", "tags/s"),
                       ("tags_p99_ms", "POST /user_tags p99 ms (bucket bound)"),
                       ("profiles_p99_ms", "profiles p99 ms (bucket bound)"),
                       ("map_used_mb", "LMDB map used MiB"),
                       ("staged_tags", "staged profile tags (bounded by --profile-staging-tags)"),
                       ("profile_log_tags", "profile log tags")]:
        a, b = window(first, key), window(last, key)
        fmt = lambda v: "–" if v[0] is None else (f"{v[0]:.0f}–{v[1]:.0f}" if v[0] >= 10
                                                  else f"{v[0]:.2f}–{v[1]:.2f}")
        lines.append(f"| {label} | {fmt(a)} | {fmt(b)} |")
    lines += ["", "Load generator report:", "", "```", loadgen_out.strip(), "```", "",
              f"Samples every {args.interval} s: `{os.path.relpath(csv, ROOT)}`.", ""]
    with open(args.out, "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
