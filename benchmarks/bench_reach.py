"""Benchmark: what logins, identities, CSRF and the GraphQL check cost on the reach labs.

    python benchmarks/bench_reach.py            # 3 runs of each lab and variant
    python benchmarks/bench_reach.py --runs 5

For each lab (login-only API with two users and tokens good for 12 requests; Django-style form
app behind a login; GraphQL endpoint as the target URL) and each variant, it prints the median
wall time, requests sent (all, of the login flows, of the GraphQL check), fresh logins after
expiry, and the findings (all, SSRF).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

from firebrick.engine import run_scan
from firebrick.lab.reach_lab import serve_reach
from firebrick.options import ScanOptions

LABS: dict[str, tuple[str, dict[str, Any]]] = {
    "login API": (
        "",
        {
            "login": "POST /api/login",
            "login_users": [("bob", "bob", "bob-pass-1"), ("alice", "alice", "alice-pass-2")],
        },
    ),
    "form app": ("", {"login": "/login", "username": "alice", "password": "alice-pass-2"}),
    "GraphQL": ("/graphql", {}),
}


def one(kind: str, variant: str, path: str, extra: dict[str, Any]) -> dict[str, Any]:
    lab = serve_reach(
        {"login API": "login", "form app": "form", "GraphQL": "graphql"}[kind], variant
    )
    try:
        opts = ScanOptions(
            target=lab.url + path, rate=300, max_time=90, oob_listen="127.100.0.1", **extra
        )
        t0 = time.perf_counter()
        result = asyncio.run(run_scan(opts))
        wall = time.perf_counter() - t0
    finally:
        lab.stop()
    by = result.stats.requests_by_check
    return {
        "wall": wall,
        "requests": result.stats.requests_sent,
        "auth": by.get("auth", 0),
        "graphql": by.get("graphql", 0),
        "relogins": sum(result.surface.get("relogins", {}).values()),
        "findings": len(result.findings),
        "ssrf": sum(1 for f in result.findings if f.category == "ssrf"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    head = f"{'lab':<10} {'variant':<10} {'wall s':>7} {'requests':>8} {'login':>6} {'graphql':>7} {'relogins':>8} {'findings':>8} {'ssrf':>5}"
    print(head)
    print("-" * len(head))
    for kind, (path, extra) in LABS.items():
        for variant in ("vulnerable", "hardened"):
            runs = [one(kind, variant, path, extra) for _ in range(args.runs)]
            med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            print(
                f"{kind:<10} {variant:<10} {med['wall']:>7.2f} {med['requests']:>8.0f} "
                f"{med['auth']:>6.0f} {med['graphql']:>7.0f} {med['relogins']:>8.0f} "
                f"{med['findings']:>8.0f} {med['ssrf']:>5.0f}"
            )


if __name__ == "__main__":
    main()
