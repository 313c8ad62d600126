"""Benchmark: what the DNS checks add to a scan.

    python benchmarks/bench_dns.py             # 5 runs per row
    python benchmarks/bench_dns.py --runs 9 --no-network

Rows, each the median scan time (engine's duration_s, lab start-up excluded) over the runs:

* loopback lab (``firebrick demo``), all checks, with and without ``dns_hygiene``;
* network lab (root, unbound / dnsmasq; skipped with the reason when unavailable), checks
  ``ssrf`` alone and ``ssrf`` + ``dns_hygiene``. The difference is the added time of the
  resolver measurement (CNAME chains, DNSSEC pair, open-resolver query).

The DNS checks must not double the scan; the table prints the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

import firebrick.checks as registry
from firebrick.cli import demo_scan


def _loopback(runs: int, with_dns: bool) -> tuple[list[float], dict[str, int]]:
    saved = list(registry.CHECKS)
    if not with_dns:
        registry.CHECKS[:] = [c for c in saved if c.name != "dns_hygiene"]
    try:
        times, by_check = [], {}
        for _ in range(runs):
            result = asyncio.run(demo_scan(False, True, 100.0, lambda _m: None))
            times.append(result.stats.duration_s)
            by_check = result.stats.requests_by_check
        return times, by_check
    finally:
        registry.CHECKS[:] = saved


def _network(runs: int, resolver: str, checks: list[str]) -> tuple[list[float], dict[str, int]]:
    from firebrick.netlab import network_scan

    times, by_check = [], {}
    for _ in range(runs):
        result: Any = asyncio.run(network_scan("vulnerable", resolver, checks=checks))
        times.append(result.stats.duration_s)
        by_check = result.stats.requests_by_check
    return times, by_check


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-network", action="store_true", help="skip the network lab rows")
    args = parser.parse_args()

    rows: list[tuple[str, float, float, dict[str, int]]] = []
    t0 = time.perf_counter()
    without, _ = _loopback(args.runs, with_dns=False)
    with_dns, by_check = _loopback(args.runs, with_dns=True)
    rows.append(
        (
            "loopback lab, all checks",
            statistics.median(without),
            statistics.median(with_dns),
            by_check,
        )
    )
    if not args.no_network:
        from firebrick.netlab import missing_requirements

        missing = missing_requirements()
        if missing:
            print("network lab skipped: " + "; ".join(missing))
        else:
            for resolver in ("unbound", "dnsmasq"):
                base, _ = _network(args.runs, resolver, ["ssrf"])
                full, by_check = _network(args.runs, resolver, ["ssrf", "dns_hygiene"])
                rows.append(
                    (
                        f"network lab, {resolver}, ssrf",
                        statistics.median(base),
                        statistics.median(full),
                        by_check,
                    )
                )

    print(
        f"{'scan':34} {'without dns (s)':>16} {'with dns (s)':>13} {'added (s)':>10} "
        f"{'ratio':>6}  dns_hygiene requests"
    )
    for name, base, full, by_check in rows:
        print(
            f"{name:34} {base:16.3f} {full:13.3f} {full - base:10.3f} {full / base:6.2f}  "
            f"{by_check.get('dns_hygiene', 0)}"
        )
    print(
        f"({args.runs} runs per cell, medians of the engine's scan time; "
        f"{time.perf_counter() - t0:.0f}s in all)"
    )


if __name__ == "__main__":
    main()
