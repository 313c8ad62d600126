"""Benchmark: the remote OOB service's feed on loopback (what --oob-server adds to a scan).

    python benchmarks/bench_oob_remote.py              # 200 callbacks per row
    python benchmarks/bench_oob_remote.py --callbacks 500 --scans 20

The OOB server and its client API run in their own thread and event loop (as on another host);
the scanner side is the real ``RemoteOOB``. Rows:

* the callback's own HTTP round trip to the listener (the floor);
* callback sent -> seen, SSE and long-poll: from sending the callback to ``wait_for`` waking
  in the scanner through the API's feed, median and p95;
* settle: one catch-up read after a payload-carrying request (what the engine awaits per such
  request), median and p95;
* fan-in: ``--scans`` scans registered at once, each receiving its share of callbacks
  concurrently: callbacks per second until every scan has seen all of its own; beside it the
  same callbacks to the listener with no scan registered (what the API adds is the difference).
  Server and scanners share one process (and its GIL) here, so both rows are a floor.

Numbers are for this machine's loopback; over a real network add one round trip to each.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from firebrick.model import Exchange
from firebrick.oob import OOBConfig, OOBServer
from firebrick.oob.api import OOBAPI, APIConfig, KeyRing
from firebrick.oob.client import RemoteOOB

KEY = "benchmark-key-0123456789abcdef"
LOOP = "127.0.0.1"


def _host(tmp: Path, ready: dict[str, Any], started: threading.Event) -> None:
    async def main() -> None:
        server = OOBServer(OOBConfig(listen_host=LOOP, dns_port=None))
        await server.start()
        api = OOBAPI(
            server,
            KeyRing([KEY]),
            APIConfig(host=LOOP, port=0, cert_out=str(tmp / "api.pem"), max_events=100000),
        )
        await api.start()
        done = asyncio.Event()
        ready.update(api=api, loop=asyncio.get_running_loop(), done=done)
        started.set()
        await done.wait()
        await api.stop()
        await server.stop()

    asyncio.run(main())


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _latency(url: str, ca: str, transport: str, n: int) -> list[float]:
    out = []
    async with (
        RemoteOOB(url, KEY, ca_file=ca, transport=transport) as remote,
        httpx.AsyncClient(trust_env=False) as client,
    ):
        await asyncio.wait_for(remote.connected.wait(), 30)
        for _ in range(n):
            t = remote.new_token()
            t0 = time.perf_counter()
            await client.get(remote.http_url(t))
            if not await remote.wait_for({t}, 30):
                raise SystemExit(f"{transport}: a callback never arrived")
            out.append((time.perf_counter() - t0) * 1000)
    return out


async def _plain(url: str, ca: str, n: int) -> list[float]:
    """The callback's own round trip (the floor the feed rows stand on)."""
    out = []
    async with (
        RemoteOOB(url, KEY, ca_file=ca) as remote,
        httpx.AsyncClient(trust_env=False) as client,
    ):
        for _ in range(n):
            t0 = time.perf_counter()
            await client.get(remote.http_url(remote.new_token()))
            out.append((time.perf_counter() - t0) * 1000)
    return out


async def _settle(url: str, ca: str, n: int) -> list[float]:
    out = []
    async with (
        RemoteOOB(url, KEY, ca_file=ca) as remote,
        httpx.AsyncClient(trust_env=False) as client,
    ):
        assert remote._feed is not None
        remote._feed.cancel()  # measure the catch-up read alone
        for _ in range(n):
            t = remote.new_token()
            target = remote.http_url(t)
            await client.get(target)
            t0 = time.perf_counter()
            await remote.settle(Exchange("POST", "http://target.example/hook", request_body=target))
            out.append((time.perf_counter() - t0) * 1000)
            if not remote.interactions(t):
                raise SystemExit("settle missed a callback")
    return out


async def _fan_in(url: str, ca: str, scans: int, n: int) -> float:
    remotes = [RemoteOOB(url, KEY, ca_file=ca, label=f"bench {i}") for i in range(scans)]
    for remote in remotes:
        await remote.start()
    try:
        per = max(1, n // scans)
        tokens = [[r.new_token() for _ in range(per)] for r in remotes]
        limits = httpx.Limits(max_connections=32)
        timeout = httpx.Timeout(30, pool=None)  # queued behind the connection limit, not failed
        async with httpx.AsyncClient(trust_env=False, limits=limits, timeout=timeout) as client:
            t0 = time.perf_counter()
            await asyncio.gather(
                *(
                    client.get(r.http_url(t))
                    for r, toks in zip(remotes, tokens, strict=True)
                    for t in toks
                )
            )

            async def all_seen(remote: RemoteOOB, toks: list[str]) -> None:
                for t in toks:
                    if not await remote.wait_for({t}, 60):
                        raise SystemExit("fan-in: a callback never arrived")

            await asyncio.gather(
                *(all_seen(r, toks) for r, toks in zip(remotes, tokens, strict=True))
            )
            elapsed = time.perf_counter() - t0
        for r, toks in zip(remotes, tokens, strict=True):  # and nobody saw anyone else's
            assert {i.token for i in r.interactions()} == set(toks)
        return per * scans / elapsed
    finally:
        for remote in remotes:
            await remote.stop()


async def _raw_fan_in(port: int, n: int) -> float:
    """The same callbacks against the listener with no scan registered: the API's share."""
    limits = httpx.Limits(max_connections=32)
    timeout = httpx.Timeout(30, pool=None)
    async with httpx.AsyncClient(trust_env=False, limits=limits, timeout=timeout) as client:
        t0 = time.perf_counter()
        await asyncio.gather(*(client.get(f"http://{LOOP}:{port}/fb{i:010d}") for i in range(n)))
        return n / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--callbacks", type=int, default=200)
    parser.add_argument("--scans", type=int, default=10)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        ready: dict[str, Any] = {}
        started = threading.Event()
        thread = threading.Thread(target=_host, args=(Path(tmp), ready, started), daemon=True)
        thread.start()
        if not started.wait(30):
            print("the OOB API did not start", file=sys.stderr)
            return 1
        url, ca = f"https://{LOOP}:{ready['api'].port}", str(Path(tmp) / "api.pem")
        try:
            plain = asyncio.run(_plain(url, ca, args.callbacks))
            sse = asyncio.run(_latency(url, ca, "sse", args.callbacks))
            poll = asyncio.run(_latency(url, ca, "poll", args.callbacks))
            settle = asyncio.run(_settle(url, ca, args.callbacks))
            raw = asyncio.run(_raw_fan_in(ready["api"].server.http_port, args.callbacks * 2))
            rate = asyncio.run(_fan_in(url, ca, args.scans, args.callbacks * 2))
        finally:
            ready["loop"].call_soon_threadsafe(ready["done"].set)
            thread.join(30)
    print(f"remote OOB on loopback, {args.callbacks} callbacks per row")
    print(f"{'row':<34} {'median':>10} {'p95':>10}")
    for name, values in (
        ("callback round trip alone (ms)", plain),
        ("callback sent -> seen, SSE (ms)", sse),
        ("callback sent -> seen, poll (ms)", poll),
        ("settle read per payload (ms)", settle),
    ):
        print(f"{name:<34} {statistics.median(values):>10.2f} {_pct(values, 0.95):>10.2f}")
    print(f"{'fan-in, listener alone (callbacks/s)':<34} {raw:>10.0f} {'':>10}")
    print(f"{f'fan-in, {args.scans} scans (callbacks/s)':<34} {rate:>10.0f} {'':>10}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
