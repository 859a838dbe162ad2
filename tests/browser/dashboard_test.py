#!/usr/bin/env python3
"""Browser test of the campaign dashboard (GET /, SPEC §9).

Starts a real allezon-server on a free loopback port with a fresh data directory, fills it
with a known stream of tags over HTTP (a steady origin with one empty minute: a drop; an
origin with one burst minute: a spike; an origin that went silent before the window; one
that is new in it), opens the dashboard in headless Chromium and checks that every number
the page shows equals what the JSON API answers for the same query, and that the API agrees
with the stream itself. Saves screenshots beside the test (in the build directory).

Chromium is driven with its command line only: --dump-dom with a virtual-time budget returns
the DOM after the page's scripts have run and their fetches have been answered (virtual time
does not advance while a fetch is pending), so no WebDriver or DevTools client is needed.

    dashboard_test.py --server build/server/allezon-server --out build/tests/browser
    dashboard_test.py --server ... --out DIR --demo   # a richer stream, for the README shot
    dashboard_test.py --cluster scripts/cluster.sh --build-dir build --out DIR
        # the same checks through a cluster's front door (SPEC §8: 3 NATS, 3 nodes, HAProxy),
        # the stream sent as batches: the page's queries are answered by the nodes' fan-out

Exit 0: passed; 1: failed; 77: no Chromium on this machine (ctest reports a skip).
"""
import argparse
import os
import shutil
import sys
import time

# Run from the source tree: leave no __pycache__ there.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dashboard_support as support  # noqa: E402

MINUTE = 60_000
# A fixed event-time origin: the window the page picks is known in advance.
T0 = support.parse_time("2026-03-01T10:00:00")
STREAM_MINUTES = 100
WINDOW_END = T0 + STREAM_MINUTES * MINUTE  # the newest tag is in minute 99
WINDOW_BEGIN = WINDOW_END - 60 * MINUTE
DROP_MINUTE = 85   # NIKE: 20 VIEWs a minute, none in this one
SPIKE_MINUTE = 80  # ADIDAS: 3 VIEWs a minute, 40 in this one

PRODUCTS = {  # origin: (brand_id, category_id, base price)
    "NIKE_WOMEN_SHOES_CAMPAIGN": ("Nike", "WOMEN_SHOES", 1999),
    "ADIDAS_RUNNING_CAMPAIGN": ("Adidas", "RUNNING_SHOES", 2499),
    "PUMA_KIDS_CAMPAIGN": ("Puma", "KIDS_SHOES", 999),
    "OLD_WINTER_CAMPAIGN": ("Nike", "WINTER_JACKETS", 4999),
    "NEW_SPRING_CAMPAIGN": ("Reebok", "WOMEN_SHOES", 3499),
}


def known_stream():
    """(time_ms, origin, action, price_offset) of every tag, deterministic."""
    tags = []

    def add(minute, origin, action, n):
        for i in range(n):
            # Spread over the minute, millisecond precision, never on the next minute.
            t = T0 + minute * MINUTE + (i * 59_000) // max(n, 1) + (minute * 37 + i * 11) % 900
            tags.append((t, origin, action, (minute + i) % 7 * 10))

    for m in range(STREAM_MINUTES):
        add(m, "NIKE_WOMEN_SHOES_CAMPAIGN", "VIEW", 0 if m == DROP_MINUTE else 20)
        add(m, "NIKE_WOMEN_SHOES_CAMPAIGN", "BUY", 2 if m % 3 else 1)
        add(m, "ADIDAS_RUNNING_CAMPAIGN", "VIEW", 40 if m == SPIKE_MINUTE else 3)
        add(m, "ADIDAS_RUNNING_CAMPAIGN", "BUY", m % 2)
        add(m, "PUMA_KIDS_CAMPAIGN", "VIEW", 1 + m % 3)
        if m <= 20:
            add(m, "OLD_WINTER_CAMPAIGN", "VIEW", 2)
            add(m, "OLD_WINTER_CAMPAIGN", "BUY", 1 if m % 5 == 0 else 0)
        if m >= 70:
            add(m, "NEW_SPRING_CAMPAIGN", "VIEW", 2)
            add(m, "NEW_SPRING_CAMPAIGN", "BUY", 1)
    return tags


def tag_json(n, t, origin, action, offset):
    brand, category, price = PRODUCTS.get(origin, support.demo_product(origin))
    return {
        "time": support.format_time(t, millis=True) + "Z",
        "cookie": f"cookie{n % 97:03d}",
        "country": ["PL", "DE", "FR"][n % 3],
        "device": ["PC", "MOBILE", "TV"][n % 3],
        "action": action,
        "origin": origin,
        "product_info": {"product_id": 1000 + n % 50, "brand_id": brand,
                         "category_id": category, "price": price + offset},
    }


def truth(tags, begin, end, origin=None):
    """Counts and price sums per action over [begin, end), from the stream itself."""
    out = {a: [0, 0] for a in ("VIEW", "BUY")}
    for t, o, action, offset in tags:
        if begin <= t < end and (origin is None or o == origin):
            out[action][0] += 1
            out[action][1] += PRODUCTS[o][2] + offset
    return out


def check_page(check, dom, api, time_range, filters, top_action, metric, dimension):
    """Every number of one rendering of the page against the API's answers."""
    check.equal(dom.attr("body", "data-state"), "ok", "page state")
    check.equal(dom.attr("body", "data-time-range"), time_range, "the page's window")
    begin = time_range.split("_")[0]
    # Totals and every minute of both series, against POST /aggregates.
    rows = dom.rows("series")
    for action in ("VIEW", "BUY"):
        answer = api.aggregates(time_range, action, filters)
        cols = answer["columns"]
        count_col, sum_col = cols.index("count"), cols.index("sum_price")
        check.equal(str(sum(int(r[count_col]) for r in answer["rows"])),
                    dom.attr(f"total-{action}-count", "data-value"), f"total {action} count")
        check.equal(str(sum(int(r[sum_col]) for r in answer["rows"])),
                    dom.attr(f"total-{action}-sum_price", "data-value"), f"total {action} sum")
        key = action.lower()
        check.equal([(r[0], r[count_col], r[sum_col]) for r in answer["rows"]],
                    [(r["data-minute"], r[f"data-{key}-count"], r[f"data-{key}-sum-price"])
                     for r in rows], f"per-minute {action} series")
    # Top lists, against GET /top.
    for d in ("origin", "brand_id", "category_id"):
        answer = api.get("/top", time_range=time_range, action=top_action, dimension=d,
                         metric=metric, limit="10")
        check.equal([list(r) for r in answer["rows"]],
                    [[r["data-value"], r["data-count"], r["data-sum-price"]]
                     for r in dom.rows(f"top-{d}")], f"top {d}")
    # New and silent origins, against GET /catalogue.
    for kind, param in (("new", "new_since"), ("silent", "silent_since")):
        values = api.get("/catalogue", dimension="origin", **{param: begin})["values"]
        check.equal([[v["value"], v["first_seen"], v["last_seen"], str(v["tags"])]
                     for v in values][:support.MAX_LIST_ROWS],
                    [[r["data-value"], r["data-first-seen"], r["data-last-seen"], r["data-tags"]]
                     for r in dom.rows(f"catalogue-{kind}")], f"catalogue {kind}")
        check.equal(str(len(values)), dom.attr(f"catalogue-{kind}-count", "data-value"),
                    f"catalogue {kind} count")
    # Anomalies, against GET /anomalies (the page lists them newest first), and their markers.
    anomalies = api.get("/anomalies", time_range=time_range, dimension=dimension)["anomalies"]
    check.equal([[a["minute"], a["value"], a["action"], str(a["observed"]), a["kind"]]
                 for a in reversed(anomalies)][:support.MAX_LIST_ROWS],
                [[r["data-minute"], r["data-value"], r["data-action"], r["data-observed"],
                  r["data-kind"]] for r in dom.rows("anomalies")], "anomalies")
    check.equal(str(len(anomalies)), dom.attr("anomaly-count", "data-value"), "anomaly count")
    marked = {(a["minute"], a["kind"]) for a in anomalies}
    check.equal(str(len(marked)), dom.attr("chart-tags", "data-markers"), "chart markers")
    return anomalies


def run(args):
    chromium = support.find_chromium()
    if chromium is None:
        print("SKIP: no chromium (apt-get install chromium)")
        return 77
    os.makedirs(args.out, exist_ok=True)
    check = support.Checker()
    serving = (support.Cluster(args.cluster, args.build_dir) if args.cluster
               else support.Server(args.server))
    with serving as server:
        api = support.Api(server.port)
        tags = known_stream() if not args.demo else support.demo_stream(T0, STREAM_MINUTES)
        started = time.monotonic()
        if args.cluster:
            api.post_batches([tag_json(n, *t) for n, t in enumerate(tags)])
        else:
            api.post_tags([tag_json(n, *t) for n, t in enumerate(tags)])
        print(f"{len(tags)} tags stored in {time.monotonic() - started:.1f} s")
        browser = support.Browser(chromium, server.port)

        # The served files themselves: types, caching, 405s, and nothing from another host.
        support.check_assets(check, server.port)

        if args.demo:
            browser.dom("/?refresh=0", screenshot=os.path.join(args.out, "dashboard.png"))
            print(f"demo screenshot in {args.out}/dashboard.png")
            return 0

        expected_range = (f"{support.format_time(WINDOW_BEGIN)}_"
                          f"{support.format_time(WINDOW_END)}")
        # 1. The page as opened, with its defaults: the last 60 minutes of event time.
        dom = browser.dom("/", screenshot=os.path.join(args.out, "dashboard.png"))
        anomalies = check_page(check, dom, api, expected_range, {}, "BUY", "sum_price", "origin")
        # The API agrees with the stream (so equal numbers are also right numbers).
        known = truth(tags, WINDOW_BEGIN, WINDOW_END)
        for action in ("VIEW", "BUY"):
            check.equal([str(n) for n in known[action]],
                        [dom.attr(f"total-{action}-count", "data-value"),
                         dom.attr(f"total-{action}-sum_price", "data-value")],
                        f"{action} totals against the stream")
        kinds = {(a["value"], a["minute"], a["kind"]) for a in anomalies}
        for expected in (("ADIDAS_RUNNING_CAMPAIGN",
                          support.format_time(T0 + SPIKE_MINUTE * MINUTE), "spike"),
                         ("NIKE_WOMEN_SHOES_CAMPAIGN",
                          support.format_time(T0 + DROP_MINUTE * MINUTE), "drop")):
            check.true(expected in kinds, f"injected anomaly {expected} listed")
        check.equal(["NEW_SPRING_CAMPAIGN"],
                    [r["data-value"] for r in dom.rows("catalogue-new")], "new origins")
        check.equal(["OLD_WINTER_CAMPAIGN"],
                    [r["data-value"] for r in dom.rows("catalogue-silent")], "silent origins")
        check.equal(3, len(dom.rows("top-origin")), "origins with BUYs in the window")
        check.true(dom.text("updated-at") not in ("", "—"), "updated-at shown")

        # 2. Pickers and switches through the URL: one origin, VIEW by count, brands'
        #    anomalies, a 30-minute window ending at a chosen minute.
        end = T0 + 90 * MINUTE
        url = ("/?origin=ADIDAS_RUNNING_CAMPAIGN&top_action=VIEW&metric=count"
               f"&dimension=brand_id&minutes=30&end={support.format_time(end)[:16]}&refresh=0")
        dom = browser.dom(url, screenshot=os.path.join(args.out, "dashboard-filtered.png"))
        time_range = f"{support.format_time(end - 30 * MINUTE)}_{support.format_time(end)}"
        check_page(check, dom, api, time_range, {"origin": "ADIDAS_RUNNING_CAMPAIGN"},
                   "VIEW", "count", "brand_id")
        known = truth(tags, end - 30 * MINUTE, end, origin="ADIDAS_RUNNING_CAMPAIGN")
        check.equal(str(known["VIEW"][0]), dom.attr("total-VIEW-count", "data-value"),
                    "filtered VIEW count against the stream")
        check.equal("ADIDAS_RUNNING_CAMPAIGN", dom.attr("pick-origin", "data-selected"),
                    "origin picker shows the filter")

    for line in browser.console_errors:
        check.fail(f"browser console: {line}")
    return check.result()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", help="the allezon-server binary")
    parser.add_argument("--cluster", help="scripts/cluster.sh: test through a cluster instead")
    parser.add_argument("--build-dir", help="with --cluster: the build with the binaries")
    parser.add_argument("--out", required=True, help="where screenshots go")
    parser.add_argument("--demo", action="store_true",
                        help="fill a richer stream and only take dashboard.png")
    args = parser.parse_args()
    if args.cluster:
        if not args.build_dir:
            parser.error("--cluster needs --build-dir")
    elif not args.server:
        parser.error("--server or --cluster is required")
    elif not shutil.which(args.server) and not os.path.exists(args.server):
        print(f"no server binary at {args.server}")
        return 1
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
