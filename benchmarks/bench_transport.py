"""HTTP layer comparison for firebrick's request pattern (used by bench_scale --transport-compare).

    python benchmarks/bench_transport.py [--requests 3000] [--concurrency 8 32]

Against the synthetic API (its own process, loopback), each client sends the same mix the SSRF
check sends: GETs with a URL in the query and POSTs with a small JSON body, ``concurrency``
requests in flight, the body read in full, no redirects followed. CPU is this process's CPU
(the server's is not counted), so "CPU ms/req" is the client's own cost per request.

Clients:
- ``httpx``: httpx.AsyncClient as firebrick used it before (limits = concurrency);
- ``httpx tuned``: the same with keep-alive sized to the concurrency and ``http1`` only, reading
  the body with ``aread`` instead of iterating raw chunks;
- ``aiohttp``: aiohttp.ClientSession with a TCPConnector sized to the concurrency;
- ``ScopedClient``: firebrick's own client end to end (scope, rate limiter, budget, recording).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def _mix(base: str, n: int) -> list[tuple[str, str, dict[str, str] | None]]:
    out: list[tuple[str, str, dict[str, str] | None]] = []
    for i in range(n):
        if i % 2:
            out.append(("GET", f"{base}/echo5?link=http%3A%2F%2F127.0.0.1%3A9%2Ffb{i:010d}", None))
        else:
            out.append(("POST", f"{base}/items2?q={i}", {"callback_url": f"http://h/{i}"}))
    return out


async def _drive(
    send: Callable[[str, str, dict[str, str] | None], Awaitable[int]],
    mix: list[tuple[str, str, dict[str, str] | None]],
    concurrency: int,
) -> int:
    queue = list(reversed(mix))
    ok = 0

    async def worker() -> None:
        nonlocal ok
        while queue:
            method, url, body = queue.pop()
            status = await send(method, url, body)
            ok += status > 0

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return ok


async def run_httpx(base: str, n: int, conc: int, tuned: bool) -> int:
    import httpx

    limits = httpx.Limits(max_connections=conc, max_keepalive_connections=conc)
    kwargs = {"http1": True, "http2": False} if tuned else {}
    async with httpx.AsyncClient(
        follow_redirects=False, trust_env=False, limits=limits, verify=False, **kwargs
    ) as client:

        async def send(method: str, url: str, body: dict[str, str] | None) -> int:
            if tuned:
                r = await client.request(method, url, json=body)
                return r.status_code
            req = client.build_request(method, url, json=body)
            resp = await client.send(req, stream=True)
            async for _chunk in resp.aiter_raw():
                pass
            await resp.aclose()
            return resp.status_code

        return await _drive(send, _mix(base, n), conc)


async def run_aiohttp(base: str, n: int, conc: int) -> int:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=conc, ssl=False)
    async with aiohttp.ClientSession(connector=connector, auto_decompress=False) as session:

        async def send(method: str, url: str, body: dict[str, str] | None) -> int:
            async with session.request(method, url, json=body, allow_redirects=False) as r:
                await r.read()
                return r.status

        return await _drive(send, _mix(base, n), conc)


async def run_scoped(base: str, n: int, conc: int) -> int:
    from firebrick.http import ScopedClient

    async with ScopedClient(
        base, rate=1_000_000, concurrency=conc, budget=10 * n, per_operation_budget=10 * n
    ) as client:

        async def send(method: str, url: str, body: dict[str, str] | None) -> int:
            ex = await client.request(method, url, json=body, follow_redirects=False)
            return ex.status or 0

        return await _drive(send, _mix(base, n), conc)


def _measure(coro_factory: Callable[[], Awaitable[int]]) -> tuple[float, float, int]:
    c0, t0 = time.process_time(), time.perf_counter()
    ok = asyncio.run(coro_factory())  # type: ignore[arg-type]
    return time.perf_counter() - t0, time.process_time() - c0, ok


def compare(requests: int = 3000, concurrencies: tuple[int, ...] = (8, 32)) -> None:
    from bench_scale import Server

    with Server(10) as server:
        base = server.url
        # warm-up: imports and the server's first connections are not what we measure
        asyncio.run(run_httpx(base, 50, 4, False))
        asyncio.run(run_aiohttp(base, 50, 4))
        asyncio.run(run_scoped(base, 50, 4))
        print(f"HTTP layer: {requests} requests (GET + JSON POST mix), client CPU only")
        print()
        head = f"{'client':<14} {'in flight':>9} {'wall s':>7} {'req/s':>7} {'CPU ms/req':>10} {'ok':>6}"
        print(head)
        print("-" * len(head))
        for conc in concurrencies:
            runs: list[tuple[str, Callable[[], Awaitable[int]]]] = [
                ("httpx", lambda c=conc: run_httpx(base, requests, c, False)),  # type: ignore[misc]
                ("httpx tuned", lambda c=conc: run_httpx(base, requests, c, True)),  # type: ignore[misc]
                ("aiohttp", lambda c=conc: run_aiohttp(base, requests, c)),  # type: ignore[misc]
                ("ScopedClient", lambda c=conc: run_scoped(base, requests, c)),  # type: ignore[misc]
            ]
            for name, factory in runs:
                wall, cpu, ok = _measure(factory)
                print(
                    f"{name:<14} {conc:>9} {wall:>7.2f} {requests / wall:>7.0f} "
                    f"{1000 * cpu / requests:>10.3f} {ok:>6}"
                )
        print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 32])
    args = parser.parse_args()
    compare(args.requests, tuple(args.concurrency))


if __name__ == "__main__":
    main()
