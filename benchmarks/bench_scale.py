"""Benchmark: firebrick against a synthetic API of N operations; prints one table.

    python benchmarks/bench_scale.py                    # N = 10, 100, 1000, 5000
    python benchmarks/bench_scale.py --ops 10 100       # a quick run
    python benchmarks/bench_scale.py --ops 1000 --rate 300
    python benchmarks/bench_scale.py --transport-compare   # httpx vs aiohttp, our request pattern
    python benchmarks/bench_scale.py --ops 100 --peer      # wapiti's SSRF module, same API

The API (benchmarks/synthetic_api.py, aiohttp, one process of its own) declares N operations in
its OpenAPI document: one in ten is a real SSRF fetcher (reflected, blind or background), one in
ten a URL-echo decoy that never fetches, the rest plain reads. Every scan is a whole
``firebrick scan`` process (all checks, ``--rate`` as given, budgets and the operation sample
lifted), measured the way
``/usr/bin/time -v`` does it (``wait4`` on that one child): wall, CPU (user + system), peak RSS.
"SSRF found" counts the fetchers with an ``ssrf.*`` finding; "decoys" counts decoys with one
(must be 0). Everything runs on 127.0.0.1 and every process started here is stopped here.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from synthetic_api import decoy_ops, fetcher_ops  # noqa: E402


@dataclass
class Row:
    n: int
    wall: float
    cpu: float
    rss_mib: float
    requests: int
    found: int
    fetchers: int
    decoys: int
    exit_code: int
    complete: bool

    @property
    def rps(self) -> float:
        return self.requests / self.wall if self.wall else 0.0

    @property
    def cpu_ms(self) -> float:
        return 1000 * self.cpu / self.requests if self.requests else 0.0


class Server:
    """The synthetic API in its own process; stops when we close its stdin."""

    def __init__(self, n: int, spec_out: str | None = None) -> None:
        cmd = [sys.executable, str(HERE / "synthetic_api.py"), "--ops", str(n)]
        if spec_out:
            cmd += ["--spec-out", spec_out]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # blocks until the ready line (or EOF on a crash)
        if not line.startswith("READY "):
            self.stop()
            raise SystemExit(f"synthetic API did not start: {line!r}")
        self.url = line.split()[1]

    def stop(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def measure(cmd: list[str], env: dict[str, str] | None = None) -> tuple[int, float, float, float]:
    """Run cmd; (exit code, wall s, cpu s, peak RSS MiB) of that process alone."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    assert proc.stderr is not None
    stderr = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1, 2):
        sys.stderr.write(stderr.decode(errors="replace"))
    return proc.returncode, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def firebrick_cmd() -> list[str]:
    return [sys.executable, "-m", "firebrick"]


def scan(n: int, rate: float, max_time: float, spec_mode: str, extra: list[str]) -> Row:
    with tempfile.TemporaryDirectory(prefix="fb-bench-") as tmp:
        spec_file = os.path.join(tmp, "openapi.json")
        out = os.path.join(tmp, "result.json")
        with Server(n, spec_out=spec_file) as server:
            spec = server.url + "/openapi.json" if spec_mode == "url" else spec_file
            cmd = [
                *firebrick_cmd(),
                "scan",
                server.url,
                "--spec",
                spec,
                "--rate",
                str(rate),
                "--budget",
                "1000000",
                "--max-operations",  # every operation tested, no sampling
                "1000000",
                "--max-time",
                str(max_time),
                "-q",
                "-f",
                "json",
                "-o",
                out,
                "--no-store",
                *extra,
            ]
            code, wall, cpu, rss = measure(cmd)
        try:
            result = json.loads(Path(out).read_text())
        except (OSError, ValueError):
            result = {"findings": [], "stats": {"requests_sent": 0}, "complete": False}
    fetchers = fetcher_ops(n)
    decoys = decoy_ops(n)
    hit = {f["operation"] for f in result["findings"] if f["category"] == "ssrf"}
    return Row(
        n=n,
        wall=wall,
        cpu=cpu,
        rss_mib=rss,
        requests=int(result["stats"]["requests_sent"]),
        found=len(hit & set(fetchers)),
        fetchers=len(fetchers),
        decoys=len(hit & decoys),
        exit_code=code,
        complete=bool(result.get("complete")),
    )


def print_table(rows: list[Row], rate: float) -> None:
    print(
        f"firebrick scan, all checks, --rate {rate:g}, budgets lifted (python {sys.version.split()[0]})"
    )
    print()
    head = (
        f"{'N ops':>6} {'wall s':>7} {'CPU s':>7} {'peak RSS MiB':>12} {'requests':>9} "
        f"{'req/s':>7} {'CPU ms/req':>10} {'SSRF found':>11} {'decoys rep.':>11} {'complete':>8}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r.n:>6} {r.wall:>7.2f} {r.cpu:>7.2f} {r.rss_mib:>12.1f} {r.requests:>9} "
            f"{r.rps:>7.0f} {r.cpu_ms:>10.2f} {f'{r.found}/{r.fetchers}':>11} {r.decoys:>11} "
            f"{'yes' if r.complete else 'NO':>8}"
        )
    print()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ops", type=int, nargs="+", default=[10, 100, 1000, 5000])
    parser.add_argument("--rate", type=float, default=1000.0, help="firebrick --rate")
    parser.add_argument("--max-time", type=float, default=600.0, help="firebrick --max-time")
    parser.add_argument(
        "--spec-from",
        choices=("file", "url"),
        default="file",
        help="give firebrick the spec as a file (default) or as the served URL",
    )
    parser.add_argument("--transport-compare", action="store_true", help="httpx vs aiohttp")
    parser.add_argument("--peer", action="store_true", help="also run wapiti's SSRF module")
    parser.add_argument("--skip-scan", action="store_true", help="only the comparisons")
    args = parser.parse_args()

    if args.transport_compare:
        from bench_transport import compare

        compare()
    if not args.skip_scan:
        rows = []
        for n in args.ops:
            rows.append(scan(n, args.rate, args.max_time, args.spec_from, []))
            print(f"  N={n} done", file=sys.stderr, flush=True)
        print_table(rows, args.rate)
    if args.peer:
        from bench_peer import peer_compare

        peer_compare(args.ops, args.rate, args.max_time)


if __name__ == "__main__":
    main()
