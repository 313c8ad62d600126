"""Benchmark: truthful verdicts on the issue-9 lab shapes (lab/truth_lab.py).

    python benchmarks/bench_truth.py

One row per shape, variant and credentials: the grade (or "incomplete"), the score, operations
reached of discovered, refused operations by cause, the findings, and the scan time. Detection
and false positives side by side: every vulnerable row should carry its finding, every hardened
row none, and no row without enough reach should carry a letter.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from firebrick.engine import run_scan
from firebrick.lab.truth_lab import TOKENS, serve
from firebrick.options import ScanOptions

ALICE = {"Authorization": f"Bearer {TOKENS['alice']}"}
ROWS: list[tuple[str, str, dict[str, Any]]] = [
    ("token-wall", "no credentials", {}),
    ("token-wall", "-H alice", {"headers": ALICE}),
    ("token-wall", "-H wrong token", {"headers": {"Authorization": "Bearer wrong"}}),
    ("spa", "no credentials", {}),
    ("swagger-redirect", "no credentials", {}),
    (
        "string-ids",
        "--identity alice, bob",
        {"identities": {"alice": ALICE, "bob": {"Authorization": f"Bearer {TOKENS['bob']}"}}},
    ),
    ("likely-sql", "no credentials", {}),
    ("jwt-example", "no credentials", {}),
    ("books-by-title", "no credentials", {}),
    ("paste-import", "no credentials", {}),
]


def main() -> None:
    head = f"{'shape':<17} {'variant':<10} {'credentials':<22} {'grade':<11} {'score':>6} "
    head += f"{'reached':>8}  {'refused':<14} {'time':>6}  findings"
    print(head)
    print("-" * len(head))
    for shape, creds, kw in ROWS:
        for hardened in (False, True):
            with serve(shape, hardened) as base:
                t0 = time.monotonic()
                r = asyncio.run(run_scan(ScanOptions(target=base, rate=300, max_time=90, **kw)))
                took = time.monotonic() - t0
            s = r.coverage_summary
            assert s is not None
            grade = "incomplete" if r.grade_incomplete else (r.grade or "-")
            refused = ",".join(f"{k} {v}" for k, v in s.operations_refused.items()) or "-"
            found = ", ".join(sorted({f.kind for f in r.findings})) or "-"
            score = f"{r.score:.1f}" if r.score is not None else "-"
            print(
                f"{shape:<17} {'hardened' if hardened else 'vuln':<10} {creds:<22} {grade:<11} "
                f"{score:>6} {s.operations_reached:>3}/{s.operations_discovered:<4}  "
                f"{refused:<14} {took:>5.1f}s  {found}"
            )


if __name__ == "__main__":
    main()
