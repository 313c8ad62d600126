"""Benchmark: how many DNS queries per second the OOB DNS listener answers on loopback.

    python benchmarks/bench_oob_dns.py                    # 2,000 q/s for 5 s, 1,000 and 4,000 too
    python benchmarks/bench_oob_dns.py --rates 2000 --seconds 10

The listener runs as a scan runs it: an OOBServer (HTTP, DNS; the scanner's event loop) in this
process. A separate sender process (its own interpreter, so it does not share our GIL) sends
A queries for distinct token names under the zone at a steady rate from 4 UDP sockets and counts
the answers by transaction id. Each row: queries sent, answered, the share answered (the issue's
bar: at least 95% at 2,000 q/s), the median and 99th-percentile latency, and this process's
peak RSS growth (memory stays bounded: interactions and the query log are capped deques).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import resource
import socket
import statistics
import time
from typing import Any

ZONE = "oob.firebrick.test"


def _sender(port: int, rate: int, seconds: float, out: Any) -> None:
    import dns.message

    socks = []
    for _ in range(4):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
        s.connect(("127.0.0.1", port))
        s.setblocking(False)
        socks.append(s)
    total = int(rate * seconds)
    wires = []
    for i in range(total):
        q = dns.message.make_query(f"fb{i:010d}.{ZONE}", "A")
        q.id = i % 65536
        wires.append(q.to_wire())
    sent_at: dict[int, float] = {}
    latencies: list[float] = []
    answered = 0
    start = time.perf_counter()

    def drain() -> None:
        nonlocal answered
        for s in socks:
            while True:
                try:
                    data = s.recv(4096)
                except BlockingIOError:
                    break
                txid = int.from_bytes(data[:2], "big")
                t = sent_at.pop(txid, None)
                if t is not None:
                    answered += 1
                    latencies.append(time.perf_counter() - t)

    for i, wire in enumerate(wires):
        due = start + i / rate
        while (now := time.perf_counter()) < due:
            drain()
            if due - now > 0.0005:
                time.sleep(0.0002)  # pacing the sender itself
        sent_at[i % 65536] = time.perf_counter()
        with contextlib.suppress(BlockingIOError):
            socks[i % 4].send(wire)
    end = time.perf_counter() + 1.0  # a last second for late answers
    while time.perf_counter() < end and sent_at:
        drain()
        time.sleep(0.001)
    out.put((total, answered, latencies, time.perf_counter() - start))


async def _row(rate: int, seconds: float) -> tuple[int, int, list[float], float, float]:
    from firebrick.oob.server import OOBConfig, OOBServer

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    async with OOBServer(OOBConfig(https_port=None, zone=ZONE)) as server:
        assert server.dns_port is not None
        ctx = mp.get_context("spawn")
        out = ctx.Queue()
        proc = ctx.Process(target=_sender, args=(server.dns_port, rate, seconds, out))
        proc.start()
        loop = asyncio.get_running_loop()
        total, answered, latencies, elapsed = await loop.run_in_executor(None, out.get)
        await loop.run_in_executor(None, proc.join)
    rss_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    return total, answered, latencies, elapsed, rss_mb


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rates", type=int, nargs="+", default=[1000, 2000, 4000])
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    print(
        f"OOB DNS listener on 127.0.0.1, A queries for distinct names, {args.seconds:g} s per row"
    )
    header = f"{'rate q/s':>9} {'sent':>7} {'answered':>9} {'share':>7} {'p50 ms':>7} {'p99 ms':>7} {'RSS +MiB':>9}"
    print(header)
    print("-" * len(header))
    for rate in args.rates:
        total, answered, lat, _elapsed, rss = asyncio.run(_row(rate, args.seconds))
        lat.sort()
        p50 = statistics.median(lat) * 1000 if lat else float("nan")
        p99 = lat[int(len(lat) * 0.99) - 1] * 1000 if lat else float("nan")
        share = answered / total * 100 if total else 0.0
        print(
            f"{rate:>9} {total:>7} {answered:>9} {share:>6.1f}% {p50:>7.2f} {p99:>7.2f} {rss:>9.1f}"
        )


if __name__ == "__main__":
    main()
