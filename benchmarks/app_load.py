"""Page-load latency of the Dash app under concurrent users, on loopback.

Serves ``gridopt.app`` from a subprocess (Flask's threaded server, as ``gridopt app`` runs it)
and replays what a browser does to load each page: ``GET /<page>?run=<id>``, ``GET
/_dash-layout``, ``GET /_dash-dependencies``, then the callback POSTs the page fires (the page
render, then the run picker's chained callback). Static JavaScript bundles are left out: a
browser caches them after its first visit. A page load's time is the sum of its requests, made
one after another as the browser does; ``--users`` threads each load ``--loads`` pages, cycling
through every page. Errors: any status other than 200/204, or a page showing an error message.

    python benchmarks/app_load.py --store /tmp/bigstore --users 20 --loads 16

Before timing, every page is loaded once (the first, cold load opens and downsamples the run:
its time is reported apart).
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from gridopt.app.layout import PAGES
from gridopt.store import Store

SERVER = "from gridopt.app import serve; import sys; serve(sys.argv[1], port=int(sys.argv[2]))"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(store: Path, port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(store), str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/_dash-layout", timeout=2)
            return proc
        except requests.ConnectionError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the app server did not start within 60 s")


def _outputs(spec: str) -> list[dict]:
    """'..a.b...c.d..' (Dash's multi-output key) as [{'id': 'a', 'property': 'b'}, ...]."""
    parts = spec.strip(".").split("...")
    return [dict(zip(("id", "property"), p.rsplit(".", 1), strict=True)) for p in parts]


class Browser:
    """One user: a session replaying a page load's requests."""

    def __init__(self, base: str, deps: list[dict]) -> None:
        self.base = base
        self.http = requests.Session()
        self.render = next(d for d in deps if "page.children" in d["output"])
        self.pick = next(d for d in deps if d["output"] == "url.search")

    def load(self, page: str, run: str) -> tuple[float, str | None]:
        """Seconds for the page load, and an error (None when all went well)."""
        search = f"?run={run}"
        start = time.perf_counter()
        for path in (f"/{page}{search}", "/_dash-layout", "/_dash-dependencies"):
            r = self.http.get(self.base + path, timeout=60)
            if r.status_code != 200:
                return time.perf_counter() - start, f"GET {path}: {r.status_code}"
        body = {"output": self.render["output"], "outputs": _outputs(self.render["output"]),
                "inputs": [{"id": "url", "property": "pathname", "value": f"/{page}"},
                           {"id": "url", "property": "search", "value": search}],
                "changedPropIds": ["url.pathname", "url.search"]}
        r = self.http.post(self.base + "/_dash-update-component", json=body, timeout=60)
        if r.status_code != 200 or "gridopt-error" in r.text:
            return time.perf_counter() - start, f"render {page}: {r.status_code} {r.text[:200]}"
        body = {"output": self.pick["output"], "outputs": _outputs(self.pick["output"])[0],
                "inputs": [{"id": "run", "property": "value", "value": run},
                           {"id": "other", "property": "value", "value": None}],
                "state": [{"id": "url", "property": "pathname", "value": f"/{page}"},
                          {"id": "url", "property": "search", "value": search}],
                "changedPropIds": ["run.value"]}
        r = self.http.post(self.base + "/_dash-update-component", json=body, timeout=60)
        if r.status_code not in (200, 204):
            return time.perf_counter() - start, f"pick {page}: {r.status_code}"
        return time.perf_counter() - start, None


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", required=True, type=Path)
    parser.add_argument("--run", help="run id (default: the newest run of the store)")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--loads", type=int, default=16, help="page loads per user")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    run = args.run or Store(args.store).list(limit=1)[0].run_id
    ds = Store(args.store).open(run)
    port = free_port()
    server = start_server(args.store, port)
    try:
        base = f"http://127.0.0.1:{port}"
        deps = requests.get(base + "/_dash-dependencies", timeout=10).json()
        pages = list(PAGES)
        cold = {p: Browser(base, deps).load(p, run) for p in pages}
        failed = {p: e for p, (_, e) in cold.items() if e}
        if failed:
            print(f"cold loads failed: {failed}")
            return 1
        results: list[tuple[str, float, str | None]] = []
        lock = threading.Lock()

        def user(k: int) -> None:
            browser = Browser(base, deps)
            for i in range(args.loads):
                page = pages[(k + i) % len(pages)]
                seconds, error = browser.load(page, run)
                with lock:
                    results.append((page, seconds, error))

        start = time.perf_counter()
        with ThreadPoolExecutor(args.users) as pool:
            list(pool.map(user, range(args.users)))
        wall = time.perf_counter() - start
    finally:
        server.terminate()
        server.wait(timeout=10)
    report(args, run, ds, cold, results, wall)
    return 0 if not any(e for _, _, e in results) else 1


def report(args, run, ds, cold, results, wall) -> None:
    times = [s for _, s, _ in results]
    errors = [e for _, _, e in results if e]
    size = ", ".join(f"{k} {v}" for k, v in ds.sizes.items())
    print(f"run {run}: {size}")
    print(f"{args.users} users x {args.loads} page loads = {len(results)} loads in {wall:.1f} s "
          f"({len(results) / wall:.1f} loads/s); errors: {len(errors)}")
    print(f"{'page':<12} {'cold s':>7} {'n':>4} {'p50 s':>7} {'p95 s':>7} {'max s':>7}")
    by_page = {}
    for page, (cold_s, _) in cold.items():
        own = [s for p, s, _ in results if p == page]
        by_page[page] = {"cold_s": cold_s, "n": len(own), "p50_s": statistics.median(own),
                         "p95_s": percentile(own, 95), "max_s": max(own)}
        print(f"{page:<12} {cold_s:7.3f} {len(own):4d} " + " ".join(
            f"{by_page[page][k]:7.3f}" for k in ("p50_s", "p95_s", "max_s")))
    overall = {"p50_s": statistics.median(times), "p95_s": percentile(times, 95), "max_s": max(times)}
    print(f"{'all':<12} {'':>7} {len(times):4d} " + " ".join(f"{overall[k]:7.3f}" for k in overall))
    for e in errors[:5]:
        print("error:", e)
    if args.json:
        args.json.write_text(json.dumps({"run": run, "sizes": dict(ds.sizes), "users": args.users,
                                         "loads": len(results), "wall_s": wall, "errors": len(errors),
                                         "pages": by_page, "all": overall}, indent=2))


if __name__ == "__main__":
    sys.exit(main())
