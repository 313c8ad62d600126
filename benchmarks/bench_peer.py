"""A peer side by side with firebrick on the same synthetic API: wapiti's SSRF module.

    python benchmarks/bench_peer.py --ops 100            # or: bench_scale.py --ops 100 --peer
    WAPITI=/path/to/venv/bin/wapiti python benchmarks/bench_peer.py --ops 10 100

wapiti (``pip install wapiti3``, best in a virtualenv of its own: it pins its own httpx) is
found on PATH or through ``$WAPITI``. Its SSRF module sends
``{external-endpoint}ssrf/<session>/<path id>/<hex param>/`` as the payload and afterwards asks
``{internal-endpoint}get_ssrf.php?session_id=<session>`` which of them were fetched. Offline,
both endpoints are a stand-in served here on 127.0.0.1 that records the fetches and answers that
JSON. wapiti reads the API from the same OpenAPI document (``--swagger``), with ``-m ssrf`` only
(firebrick runs all its checks: the ratio flatters wapiti). Everything stays on loopback.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
from collections import defaultdict
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_scale import Server, measure, scan  # noqa: E402
from synthetic_api import decoy_ops, fetcher_ops  # noqa: E402


class Endpoint:
    """wapiti's SSRF endpoint, stood in for on loopback: records /ssrf/... fetches and serves
    get_ssrf.php the way the public one does (session -> path id -> hex param -> hits)."""

    def __init__(self) -> None:
        hits: dict[str, dict[str, dict[str, list[dict[str, Any]]]]] = defaultdict(
            lambda: defaultdict(lambda: defaultdict(list))
        )
        self.hits = hits

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _any(self) -> None:
                parts = urlsplit(self.path)
                segs = [s for s in parts.path.split("/") if s]
                if segs[:1] == ["get_ssrf.php"]:
                    session = parse_qs(parts.query).get("session_id", [""])[0]
                    body = json.dumps(hits.get(session, {})).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                if len(segs) >= 4 and segs[0] == "ssrf":
                    hits[segs[1]][segs[2]][segs[3]].append(
                        {
                            "url": self.path,
                            "date": datetime.now(UTC).isoformat(),
                            "ip": self.client_address[0],
                            "method": self.command,
                            "size": int(self.headers.get("Content-Length") or 0),
                        }
                    )
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            do_GET = do_POST = do_PUT = do_HEAD = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def wapiti_path() -> str | None:
    return os.environ.get("WAPITI") or shutil.which("wapiti")


def run_wapiti(n: int, exe: str, max_time: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="fb-peer-") as tmp:
        spec = os.path.join(tmp, "openapi.json")
        report = os.path.join(tmp, "wapiti.json")
        endpoint = Endpoint()
        try:
            with Server(n, spec_out=spec) as server:
                cmd = [
                    exe,
                    "-u",
                    server.url + "/",
                    "--swagger",
                    spec,
                    "-m",
                    "ssrf",
                    "--scope",
                    "domain",
                    "--external-endpoint",
                    endpoint.url,
                    "--internal-endpoint",
                    endpoint.url,
                    "--flush-session",
                    "--store-session",
                    os.path.join(tmp, "session"),
                    "--store-config",
                    os.path.join(tmp, "config"),
                    "--max-scan-time",
                    str(int(max_time)),
                    "--no-bugreport",
                    "-f",
                    "json",
                    "-o",
                    report,
                ]
                env = dict(os.environ, HOME=tmp)  # wapiti writes its config under $HOME
                code, wall, cpu, rss = measure(cmd, env=env)
        finally:
            endpoint.stop()
        try:
            data = json.loads(Path(report).read_text())
        except (OSError, ValueError):
            data = {}
    vulns = data.get("vulnerabilities", {}) if isinstance(data, dict) else {}
    ssrf = next((v for k, v in vulns.items() if "Server Side Request Forgery" in k), [])
    hit = {f"{v.get('method', 'GET')} {urlsplit(v.get('path', '')).path}" for v in ssrf}
    return {"code": code, "wall": wall, "cpu": cpu, "rss": rss, "hit": hit}


def peer_compare(ops: list[int], rate: float, max_time: float) -> None:
    exe = wapiti_path()
    print("Peer: wapiti -m ssrf on the same API (its own SSRF module only; firebrick: all checks)")
    print()
    if exe is None:
        print(
            "  wapiti is not installed here (pip install wapiti3 in a virtualenv, then "
            "WAPITI=/path/to/bin/wapiti): no peer figures."
        )
        print()
        return
    head = (
        f"{'N ops':>6} {'tool':<10} {'wall s':>7} {'CPU s':>7} {'RSS MiB':>8} "
        f"{'SSRF found':>11} {'decoys rep.':>11} {'wall ratio':>10}"
    )
    print(head)
    print("-" * len(head))
    for n in ops:
        fetchers, decoys = fetcher_ops(n), decoy_ops(n)
        fb = scan(n, rate, max_time, "file", [])
        w = run_wapiti(n, exe, max_time)
        print(
            f"{n:>6} {'firebrick':<10} {fb.wall:>7.2f} {fb.cpu:>7.2f} {fb.rss_mib:>8.1f} "
            f"{f'{fb.found}/{len(fetchers)}':>11} {fb.decoys:>11} {'1.00':>10}"
        )
        found = len(w["hit"] & set(fetchers))
        print(
            f"{n:>6} {'wapiti':<10} {w['wall']:>7.2f} {w['cpu']:>7.2f} {w['rss']:>8.1f} "
            f"{f'{found}/{len(fetchers)}':>11} {len(w['hit'] & decoys):>11} "
            f"{w['wall'] / fb.wall:>10.2f}"
        )
        if w["code"] not in (0, 1):
            print(f"       (wapiti exited with {w['code']})")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ops", type=int, nargs="+", default=[10, 100])
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--max-time", type=float, default=600.0)
    args = parser.parse_args()
    peer_compare(args.ops, args.rate, args.max_time)


if __name__ == "__main__":
    main()
