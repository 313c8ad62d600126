"""Benchmark: scan the bundled lab and print wall time, requests sent and peak memory.

    python benchmarks/bench_scan.py            # 5 runs of each lab variant
    python benchmarks/bench_scan.py --runs 9 --no-spec

Each run is a whole demo scan in this process: start the OOB server, start the lab subprocess,
discover, run every check, judge, score, stop the lab. Wall time is the median over the runs.
Peak memory is this process's maximum resident set size (the scanner; the lab runs in a child
process and is reported separately). For whole-process figures, time the CLI instead:

    /usr/bin/time -v firebrick demo -q -f json -o /dev/null
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import time

from firebrick.cli import demo_scan


def kib_to_mib(kib: int) -> float:
    return kib / 1024


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-spec", action="store_true", help="lab serves no OpenAPI document")
    parser.add_argument("--rate", type=float, default=200.0, help="requests/s (the demo default)")
    args = parser.parse_args()

    rows = []
    for variant in ("vulnerable", "hardened"):
        walls, scans, sent, by_check, findings = [], [], [], {}, 0
        for _ in range(args.runs):
            t0 = time.perf_counter()
            result = asyncio.run(
                demo_scan(variant == "hardened", not args.no_spec, args.rate, lambda _m: None)
            )
            walls.append(time.perf_counter() - t0)
            scans.append(result.stats.duration_s)
            sent.append(result.stats.requests_sent)
            by_check = result.stats.requests_by_check
            findings = len(result.findings)
        rows.append(
            (
                variant,
                statistics.median(walls),
                min(walls),
                max(walls),
                statistics.median(scans),
                int(statistics.median(sent)),
                by_check,
                findings,
                result.grade,
            )
        )

    scanner_peak = kib_to_mib(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    lab_peak = kib_to_mib(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    spec = "no spec (crawl + guessing)" if args.no_spec else "spec served"
    print(f"lab scan benchmark: {args.runs} runs per variant, {spec}, rate {args.rate:g} req/s")
    print()
    header = f"{'variant':<11} {'wall median s':>13} {'min':>6} {'max':>6} {'scan s':>7} {'requests':>9} {'findings':>9} {'grade':>6}"
    print(header)
    print("-" * len(header))
    for variant, wall, lo, hi, scan_s, req, _by, nfind, grade in rows:
        print(
            f"{variant:<11} {wall:>13.2f} {lo:>6.2f} {hi:>6.2f} {scan_s:>7.2f} {req:>9} {nfind:>9} {grade:>6}"
        )
    print()
    for variant, *_, by_check, _nfind, _grade in rows:
        print(
            f"requests by check ({variant}, last run): "
            + ", ".join(f"{k} {n}" for k, n in by_check.items())
        )
    print(
        f"peak memory: scanner process {scanner_peak:.0f} MiB, lab child process {lab_peak:.0f} MiB"
    )


if __name__ == "__main__":
    main()
