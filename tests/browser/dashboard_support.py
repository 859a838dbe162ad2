"""Helpers of the dashboard browser test: the server process, the JSON API, headless Chromium
and the DOM it dumps. Standard library only (CI installs no Python packages)."""
import calendar
import concurrent.futures
import hashlib
import html.parser
import http.client
import json
import math
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse


# The page lists at most this many anomalies / catalogue values (app.js MAX_LIST_ROWS).
MAX_LIST_ROWS = 50


def parse_time(text):
    """'YYYY-MM-DDTHH:MM:SS' (UTC) to epoch milliseconds."""
    return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%S")) * 1000


def format_time(ms, millis=False):
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000))
    return f"{text}.{ms % 1000:03d}" if millis else text


class Checker:
    """Collects failures instead of stopping at the first, so one run shows every mismatch."""

    def __init__(self):
        self.failures = []
        self.passed = 0

    def fail(self, what):
        self.failures.append(what)
        print(f"FAIL {what}")

    def true(self, ok, what):
        if ok:
            self.passed += 1
        else:
            self.fail(what)

    def equal(self, api, page, what):
        if api == page:
            self.passed += 1
        else:
            self.fail(f"{what}:\n  API/expected: {api!r}\n  page:         {page!r}")

    def result(self):
        print(f"{self.passed} checks passed, {len(self.failures)} failed")
        return 1 if self.failures else 0


class Server:
    """allezon-server on a free loopback port with a fresh data directory (removed after)."""

    def __init__(self, binary):
        self.binary = binary
        self.dir = tempfile.mkdtemp(prefix="allezon-browser-")
        self.process = None
        self.port = None

    def __enter__(self):
        port_file = os.path.join(self.dir, "port")
        # As the C++ test support does: CI passes engine flags through the environment.
        extra = os.environ.get("ALLEZON_TEST_SERVER_ARGS", "").split()
        # --no-sync: durability is not under test here, and fsync per tag would dominate.
        self.process = subprocess.Popen(
            [self.binary, "--host", "127.0.0.1", "--port", "0", "--port-file", port_file,
             "--data-dir", os.path.join(self.dir, "data"), "--no-sync", "--log-level", "warn",
             *extra])
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"allezon-server exited with {self.process.returncode}")
            try:
                with open(port_file) as f:
                    text = f.read().strip()
                if text:
                    self.port = int(text)
                    return self
            except (FileNotFoundError, ValueError):
                pass
            time.sleep(0.05)
        raise RuntimeError("allezon-server did not write its port in 15 s")

    def __exit__(self, *exc):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class Cluster:
    """A whole local cluster (scripts/cluster.sh: 3 nats-server, 3 nodes, HAProxy) under a
    temporary directory; `port` is its front door. Taken down and removed after."""

    def __init__(self, script, build_dir):
        self.script = script
        self.env = dict(os.environ, ALLEZON_BUILD_DIR=build_dir, ALLEZON_LOG_LEVEL="warn")
        self.dir = os.path.join(tempfile.mkdtemp(prefix="allezon-browser-cluster-"), "cluster")
        self.port = None

    def __enter__(self):
        with socket.socket() as s:  # a free loopback port for the front door
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        done = subprocess.run(["bash", self.script, "up", self.dir, "--nodes", "3", "--port",
                               str(self.port)], env=self.env, capture_output=True, timeout=180)
        if done.returncode != 0:
            self.__exit__()
            raise RuntimeError(f"cluster.sh up failed: {done.stdout[-2000:]!r} "
                               f"{done.stderr[-2000:]!r}")
        return self

    def __exit__(self, *exc):
        subprocess.run(["bash", self.script, "down", self.dir], env=self.env,
                       capture_output=True, timeout=60)
        shutil.rmtree(os.path.dirname(self.dir), ignore_errors=True)


class Api:
    def __init__(self, port):
        self.port = port

    def request(self, method, target, body=None, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, target, body=body, headers=headers or {})
            response = conn.getresponse()
            # HTTP header names are case-insensitive (HAProxy sends them lower-case).
            return response.status, response.headers, response.read()
        finally:
            conn.close()

    def json(self, method, path, params):
        status, _, body = self.request(method, f"{path}?{urllib.parse.urlencode(params)}")
        if status != 200:
            raise RuntimeError(f"{method} {path} {params}: {status} {body[:200]!r}")
        return json.loads(body)

    def get(self, path, **params):
        return self.json("GET", path, params)

    def aggregates(self, time_range, action, filters):
        params = [("time_range", time_range), ("action", action), ("aggregates", "COUNT"),
                  ("aggregates", "SUM_PRICE"), *filters.items()]
        return self.json("POST", "/aggregates", params)

    def post_tags(self, tags, connections=4):
        """Every tag must get its 204; a few keep-alive connections in parallel."""
        def send(chunk):
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            for tag in chunk:
                conn.request("POST", "/user_tags", body=json.dumps(tag),
                             headers={"Content-Type": "application/json"})
                response = conn.getresponse()
                response.read()
                if response.status != 204:
                    raise RuntimeError(f"POST /user_tags: {response.status} for {tag}")
            conn.close()
        chunks = [tags[i::connections] for i in range(connections)]
        with concurrent.futures.ThreadPoolExecutor(connections) as pool:
            for future in [pool.submit(send, c) for c in chunks]:
                future.result()

    def post_batches(self, tags, size=500):
        """POST /user_tags/batch, `size` tags a batch; each must get its 204."""
        for i in range(0, len(tags), size):
            body = "".join(json.dumps(tag) + "\n" for tag in tags[i:i + size])
            status, _, answer = self.request("POST", "/user_tags/batch", body=body,
                                             headers={"Content-Type": "application/x-ndjson"})
            if status != 204:
                raise RuntimeError(f"POST /user_tags/batch: {status} {answer[:200]!r}")


def check_assets(check, port):
    """What the server sends for the dashboard's own files."""
    api = Api(port)
    expected = {"/": "text/html", "/dashboard/app.js": "text/javascript",
                "/dashboard/style.css": "text/css", "/dashboard/chart.js": "text/javascript"}
    for path, kind in expected.items():
        status, headers, body = api.request("GET", path)
        check.equal((200, kind), (status, headers.get("Content-Type", "").split(";")[0]),
                    f"GET {path}")
        check.true(bool(body), f"GET {path} has a body")
        check.equal("no-cache", headers.get("Cache-Control"), f"GET {path} Cache-Control")
        check.true("default-src 'self'" in headers.get("Content-Security-Policy", ""),
                   f"GET {path} forbids other hosts (CSP)")
        status, _, _ = api.request("GET", path, headers={"If-None-Match": headers.get("ETag")})
        check.equal(304, status, f"GET {path} revalidates with its ETag")
        status, headers, body = api.request("POST", path, body=b"")
        check.equal((405, "GET"), (status, headers.get("Allow")), f"POST {path}")
        check.true("error" in json.loads(body or b"{}"), f"POST {path} has a JSON error")
    _, _, page = api.request("GET", "/")
    for attr in ("src", "href"):
        for ref in page.decode().split(f'{attr}="')[1:]:
            check.true(ref.startswith("/"), f"{attr}={ref.split(chr(34))[0]} is on this server")
    _, _, chart = api.request("GET", "/dashboard/chart.js")
    check.true(b"Chart.js v" in chart[:200], "the embedded charting library is Chart.js")


def find_chromium():
    for name in (os.environ.get("CHROMIUM", ""), "chromium", "chromium-browser",
                 "google-chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


class Browser:
    """Headless Chromium, one process per page load (a fresh profile each time)."""

    # Virtual time runs timers and animation at once; it stops while fetches are pending,
    # so after this budget the page has made and rendered all its requests. Below the
    # page's default 10 s refresh, so the DOM is that of exactly one load.
    BUDGET_MS = 8000

    def __init__(self, binary, port):
        self.binary = binary
        self.base = f"http://127.0.0.1:{port}"
        self.console_errors = []

    def _run(self, url, *flags, window="1280,800"):
        with tempfile.TemporaryDirectory(prefix="allezon-chromium-") as profile:
            # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
            command = [self.binary, "--headless", "--no-sandbox", "--disable-gpu",
                       "--disable-dev-shm-usage", "--no-first-run", "--hide-scrollbars",
                       "--disable-extensions", "--disable-background-networking",
                       f"--user-data-dir={profile}", f"--window-size={window}",
                       f"--virtual-time-budget={self.BUDGET_MS}", "--enable-logging=stderr",
                       "--v=0", *flags, self.base + url]
            started = time.monotonic()
            done = subprocess.run(command, capture_output=True, timeout=60)
            print(f"chromium {url}: {time.monotonic() - started:.1f} s")
        for line in done.stderr.decode(errors="replace").splitlines():
            # Console messages of the page: script errors and blocked loads (CSP) fail it.
            if "CONSOLE" in line and ("Uncaught" in line or "Refused" in line
                                      or "Error" in line):
                self.console_errors.append(line.strip())
        if done.returncode != 0:
            raise RuntimeError(f"chromium exited {done.returncode}: {done.stderr[-2000:]!r}")
        return done.stdout.decode()

    def dom(self, url, screenshot=None):
        """The DOM after the page's scripts ran; with `screenshot`, the same load's PNG too
        (one Chromium start for both: starts are what this test spends its time on)."""
        flags = ["--dump-dom"] + ([f"--screenshot={screenshot}"] if screenshot else [])
        dom = Dom(self._run(url, *flags))
        if screenshot and not os.path.exists(screenshot):
            raise RuntimeError(f"chromium wrote no screenshot to {screenshot}")
        return dom


class Dom(html.parser.HTMLParser):
    """The elements with an id (attributes, text) and the rows of each tbody with an id."""

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
            "source", "track", "wbr"}

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.by_id = {}
        self.texts = {}
        self.tables = {}
        self.stack = []  # (tag, id or None)
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        key = "body" if tag == "body" else attrs.get("id")
        if key:
            self.by_id[key] = attrs
            self.texts[key] = ""
        if tag == "tr":
            for open_tag, open_id in reversed(self.stack):
                if open_tag == "tbody":
                    if open_id:
                        self.tables.setdefault(open_id, []).append(attrs)
                    break
        if tag not in self.VOID:
            self.stack.append((tag, key))

    def handle_endtag(self, tag):
        while self.stack:
            if self.stack.pop()[0] == tag:
                break

    def handle_data(self, data):
        for _, key in self.stack:
            if key:
                self.texts[key] += data

    def attr(self, element_id, name):
        return self.by_id.get(element_id, {}).get(name)

    def text(self, element_id):
        return self.texts.get(element_id, "").strip()

    def rows(self, tbody_id):
        """The data rows (those with data-* values; not the 'none' / 'and N more' rows)."""
        return [r for r in self.tables.get(tbody_id, []) if any(k.startswith("data-") for k in r)]


# ---- a richer stream for the README's screenshot ---------------------------------------------
DEMO_ORIGINS = [
    "NIKE_WOMEN_SHOES_CAMPAIGN", "ADIDAS_RUNNING_CAMPAIGN", "PUMA_KIDS_CAMPAIGN",
    "REEBOK_CLASSIC_RETARGETING", "NIKE_AIR_MAX_LAUNCH", "ASICS_TRAIL_PROMO",
    "NEW_BALANCE_574_CAMPAIGN", "CONVERSE_SUMMER_SALE", "VANS_SKATE_WEEK", "FILA_RETRO_DROP",
    "SALOMON_OUTDOOR_AUTUMN", "UNDER_ARMOUR_GYM", "HOKA_MARATHON_PREP", "MIZUNO_INDOOR",
]
DEMO_BRANDS = ["Nike", "Adidas", "Puma", "Reebok", "Asics", "New Balance", "Converse"]
DEMO_CATEGORIES = ["WOMEN_SHOES", "MEN_SHOES", "KIDS_SHOES", "RUNNING_SHOES", "SPORTSWEAR"]


def demo_product(origin):
    h = int(hashlib.sha1(origin.encode()).hexdigest(), 16)
    return (DEMO_BRANDS[h % len(DEMO_BRANDS)], DEMO_CATEGORIES[h // 7 % len(DEMO_CATEGORIES)],
            1999 + h % 40 * 250)


def demo_stream(t0, minutes):
    """Zipf-weighted origins with a daily-looking wave, a flash sale (spike), an outage of
    one campaign (drop), one campaign ended and two launched."""
    rng = random.Random(19)
    tags = []
    for m in range(minutes):
        wave = 1 + 0.35 * math.sin(m / 14)
        for rank, origin in enumerate(DEMO_ORIGINS):
            if origin == "FILA_RETRO_DROP" and m < 72:
                continue  # launched inside the window
            if origin == "MIZUNO_INDOOR" and m > 25:
                continue  # ended before the window
            if origin == "HOKA_MARATHON_PREP" and m < 64:
                continue
            rate = 42 / (rank + 1) * wave
            if origin == "ADIDAS_RUNNING_CAMPAIGN" and m == 83:
                rate *= 9   # flash sale
            views = 0 if origin == "NIKE_WOMEN_SHOES_CAMPAIGN" and m == 77 else \
                max(0, int(rng.gauss(rate, math.sqrt(rate))))
            buys = sum(1 for _ in range(views) if rng.random() < 0.06)
            for action, n in (("VIEW", views), ("BUY", buys)):
                for _ in range(n):
                    t = t0 + m * 60_000 + rng.randrange(60_000)
                    tags.append((t, origin, action, rng.randrange(0, 12) * 100))
    tags.sort()
    return tags
