#!/usr/bin/env python3
"""Groups a perf profile's self time into the categories of issue 6 (HTTP, parse, LMDB,
aggregates, profiles, allocation, kernel network/fsync/scheduling, ...).

    perf record -F 999 -g -p $(pidof allezon-server) -o perf.data -- sleep 10
    bench/tools/perf_categories.py perf.data [tags_in_window [--tid=T]]

Reads `perf report --no-children --sort dso,sym` and matches symbol names; kernel time is
split by the kernel function's name (tcp/sock/skb: network; ext4/blk/fsync/virtio: disk;
sched/futex/switch: scheduling). With tags_in_window, prints CPU microseconds per tag too.
"""
import re
import subprocess
import sys

RULES = [
    ("parse (RapidJSON, tag validation)", r"rapidjson|ParseUserTagJson|ReadString|ParseTagTime|ParseIsoTime|ValidateUserTag|FieldError"),
    ("aggregates (cells, log, fold)", r"AggregateIndexImpl|AddToCells|SumBlock|FoldInto|DeleteMinutes"),
    ("profiles (merge, encode)", r"UserTagStoreImpl|EncodeMerged|WalkRecord|ReadBody|AppendBody"),
    ("string interning", r"StringPool"),
    ("LMDB (B-tree, pages, commit)", r"^mdb_|lmdb|mdb_"),
    ("writer queue, group commit", r"DatabaseImpl|absl.*Mutex|absl.*Condition|CondVar|synchronization"),
    ("HTTP (our connection layer, Beast parser, handlers)", r"httplib|beast|RequestParser|HttpServer|HttpRouter|HttpApi|tolower|Metrics|LogLine|server::"),
    ("memory allocation", r"malloc|free|_int_|operator new|operator delete|cfree|unlink_chunk|tcache"),
    ("libc strings, formatting", r"memmove|memcpy|memcmp|memset|strlen|strchr|printf|xsputn|_itoa|_IO_|std::__cxx11::basic_string|snprintf"),
]
KERNEL = [
    ("kernel: network (TCP loopback, epoll/poll)", r"tcp|sock|skb|inet|ip_|__dev|net_|loopback|poll|epoll|napi|sk_|lock_sock|release_sock|__x64_sys_(send|recv|read|write)"),
    ("kernel: disk (write, fsync)", r"ext4|blk|bio|fsync|virtio|iowrite|mark_buffer|folio|filemap|jbd2|page_cache|block_|vring|submit|generic_perform_write|mpage|writeback"),
    ("kernel: scheduling, futex, wakeups", r"sched|futex|switch|wake|schedule|hrtimer|idle|enqueue|dequeue|update_|pick_|task|_raw_spin|select_task|ttwu|irq|softirq"),
]


def main():
    data = sys.argv[1]
    tags = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
    extra_args = sys.argv[3:]  # e.g. --tid=123 (one thread) or --comm=...
    out = subprocess.run(["perf", "report", "-i", data, "--no-children", "--sort", "dso,sym",
                          "--stdio", "-g", "none", "--percent-limit", "0"] + extra_args,
                         capture_output=True, text=True).stdout
    totals = {}
    script = subprocess.run(["perf", "script", "-i", data, "-F", "tid"] + [
        a for a in extra_args if a.startswith("--tid")], capture_output=True, text=True).stdout
    samples = len(script.splitlines())
    for line in out.splitlines():
        m = re.match(r"\s*([\d.]+)%\s+(\S+)\s+\[(.)\]\s+(.*)$", line)
        if not m:
            continue
        pct, dso, kind, sym = float(m.group(1)), m.group(2), m.group(3), m.group(4).strip()
        category = None
        if kind == "k":
            for name, rx in KERNEL:
                if re.search(rx, sym):
                    category = name
                    break
            category = category or "kernel: other (syscalls, copies)"
        else:
            for name, rx in RULES:
                if re.search(rx, sym) or (name.startswith("LMDB") and "liblmdb" in dso):
                    category = name
                    break
            if category is None and "libcpp-httplib" in dso:
                category = RULES[6][0]
            category = category or f"other user ({dso})"
        totals[category] = totals.get(category, 0.0) + pct
    print(f"samples={samples}")
    for name, pct in sorted(totals.items(), key=lambda kv: -kv[1]):
        extra = ""
        if tags and samples:
            # perf -F 999: each sample ~1.001 ms of CPU
            extra = f"  {pct / 100 * samples * 1001.0 / tags:.2f} us/tag"
        print(f"{pct:6.2f}%  {name}{extra}")


if __name__ == "__main__":
    main()
