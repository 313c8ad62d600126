"""Benchmark: how many operations of the SSRF guard ladder firebrick gets right.

    python benchmarks/bench_ssrf_ladder.py                 # both ways below
    python benchmarks/bench_ssrf_ladder.py --only launch

The ladder (``firebrick.lab.ladder``: 10 guard styles x synchronous, blind, background job, 30
operations) is a plain Flask + requests app that resolves through the system resolver. It is
scanned (``--check ssrf``) two ways, each with the exact command printed:

* ``launch``: ``firebrick scan --launch "python -m firebrick.lab.ladder"`` (needs root or
  unprivileged user namespaces): the sandbox's OOB DNS is its resolver, its internet is ours.
* ``same-machine``: the app started on 127.0.0.1 and scanned by URL with default options: the
  app cannot resolve the OOB zone and our callback address is loopback.

Each operation is right (the bypass its guard really has, or clean for the hardened ones),
not determined (coverage says so and names the fix), or wrong (a false "passed" or a false
finding). The table is printed per way, then the totals, with the writes (POSTs to the blind
and job operations, from the report's write ledger) per operation: both ways scan in the default
safe mode, whose cap is ``SAFE_WRITES_PER_OPERATION``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from firebrick.lab.ladder_score import VERDICTS, score, table

APP = f"{sys.executable} -m firebrick.lab.ladder"


def _scan(args: list[str]) -> tuple[dict[str, object], float, str]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.json"
        cmd = [
            sys.executable, "-m", "firebrick", "scan", *args, "--check", "ssrf", "--no-store",
            "-q", "-f", "json", "-o", str(out), "--rate", "200", "--max-time", "300",
        ]  # fmt: skip
        t0 = time.monotonic()
        subprocess.run(cmd, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        took = time.monotonic() - t0
        shown = " ".join(f'"{a}"' if " " in a else a for a in cmd[1:])
        return json.loads(out.read_text()), took, f"python {shown}"


def launch() -> tuple[dict[str, object], float, str]:
    return _scan(["--launch", APP])


def same_machine() -> tuple[dict[str, object], float, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "firebrick.lab.ladder", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # the app's request log
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # "ladder listening on HOST:PORT" once it listens
        match = re.search(r":(\d+)$", line.strip())
        if match is None:
            raise SystemExit(f"the ladder did not start: {line!r}")
        return _scan([f"http://127.0.0.1:{match.group(1)}"])
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", choices=("launch", "same-machine"))
    args = parser.parse_args()
    ways = {"launch": launch, "same-machine": same_machine}
    totals = []
    for name, run in ways.items():
        if args.only and name != args.only:
            continue
        report, took, command = run()
        rows = score(report)
        print(f"\n== {name}: {command}\n")
        print(table(rows))
        counts = [sum(r.verdict == v for r in rows) for v in VERDICTS]
        totals.append((name, counts, len(rows), took, _writes_per_operation(report)))
    print(
        f"\n{'way':14} {'right':>6} {'partial':>8} {'not det.':>9} {'wrong':>6} {'scan':>8}"
        f" {'writes/op max':>14} {'mean':>5}"
    )
    for name, (right, partial, undetermined, wrong), total, took, writes in totals:
        print(
            f"{name:14} {right:>3}/{total:<2} {partial:>8} {undetermined:>9} {wrong:>6} {took:>6.1f} s"
            f" {max(writes, default=0):>14} {sum(writes) / max(1, len(writes)):>5.1f}"
        )


def _writes_per_operation(report: dict[str, object]) -> list[int]:
    """Writes the scan sent to each ladder write operation (the write ledger)."""
    entries: list[dict[str, object]] = report["writes"]["entries"]  # type: ignore[index]
    per_op = Counter(
        str(e["operation"]) for e in entries if str(e.get("operation")).startswith("POST /")
    )
    return list(per_op.values())


if __name__ == "__main__":
    main()
