"""Fleet throughput: the same batch of scans run by 1, 2 and 4 `firebrick worker` processes.

    python benchmarks/bench_fleet.py [--scans 16] [--workers 1,2,4]

Starts a redis-server and a target API on loopback (each scan: the inventory and input_validation
checks, 200 requests/s allowed), queues the batch with `firebrick fleet submit`, and prints wall
time, scans per minute, requests the target served, and the CPU the workers used. Needs
redis-server (Debian package) and runs only on loopback.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from test_fleet import Target, worker  # noqa: E402  (the same target and workers as the tests)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(n_workers: int, scans: int, redis_url: str) -> tuple[float, int, float]:
    import logging

    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request in the table

    target = Target()
    server = make_server("127.0.0.1", 0, target.app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    tmp = Path(tempfile.mkdtemp(prefix="fb-bench-fleet-"))
    database = f"sqlite:///{tmp / 'fleet.sqlite'}"
    targets = tmp / "targets.txt"
    targets.write_text(f"{base} {base}/openapi.json\n" * scans)
    stack = contextlib.ExitStack()
    for i in range(n_workers):
        stack.enter_context(worker(redis_url, database, f"bench{i}"))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "firebrick",
            "fleet",
            "submit",
            str(targets),
            "--broker",
            redis_url,
            "--database",
            database,
            "--check",
            "inventory",
            "--check",
            "input_validation",
            "--rate",
            "200",
            "--wait",
            "600",
        ],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    wall = time.monotonic() - t0
    stack.close()  # SIGTERM: warm shutdown of every worker
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    server.shutdown()
    shutil.rmtree(tmp, ignore_errors=True)
    return wall, len(target.times), cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scans", type=int, default=16)
    parser.add_argument("--workers", default="1,2,4")
    args = parser.parse_args()
    redis = shutil.which("redis-server")
    if redis is None:
        sys.exit("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    server = subprocess.Popen(
        [redis, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    time.sleep(0.5)  # redis-server is up in milliseconds; the first worker retries anyway
    url = f"redis://127.0.0.1:{port}/0"
    print(
        f"{args.scans} scans (inventory + input_validation, 200 req/s each) on {os.cpu_count()} cores"
    )
    print(f"{'workers':>8}{'wall s':>9}{'scans/min':>11}{'requests':>10}{'req/s':>8}{'CPU s':>8}")
    try:
        for n in (int(x) for x in args.workers.split(",")):
            wall, requests, cpu = run(n, args.scans, url)
            print(
                f"{n:>8}{wall:>9.1f}{args.scans / wall * 60:>11.1f}{requests:>10}"
                f"{requests / wall:>8.0f}{cpu:>8.1f}"
            )
    finally:
        server.terminate()


if __name__ == "__main__":
    main()
