"""Precision on the lab: per finding kind, true and false positives and misses.

    PYTHONPATH=src python3 benchmarks/bench_precision.py            # safe-mode demo scans
    PYTHONPATH=src python3 benchmarks/bench_precision.py --no-spec  # crawl only
    PYTHONPATH=src python3 benchmarks/bench_precision.py --write-truth  # after a reviewed change

Ground truth is ``lab_ground_truth.json`` beside this file: for each kind, the operations of the
vulnerable lab that really have it (reviewed by hand against the lab's source). Then:

- TP: a finding on the vulnerable lab listed in the ground truth;
- FP: any finding on the hardened twin (it is built to be clean), plus a finding on the
  vulnerable lab the ground truth does not list (the false-positive shapes of issue 14 live in
  both variants, so reporting them shows up here);
- FN: a ground-truth entry the vulnerable scan did not report.

The last row sums every kind; precision = TP / (TP + FP), recall = TP / (TP + FN).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections import Counter
from pathlib import Path

from firebrick.cli import demo_scan
from firebrick.model import ScanResult

TRUTH = Path(__file__).with_name("lab_ground_truth.json")


def keyed(result: ScanResult) -> set[tuple[str, str]]:
    return {(f.kind, f.operation or "-") for f in result.findings}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--no-spec", action="store_true", help="the lab serves no OpenAPI document")
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--write-truth", action="store_true", help="record the vulnerable scan")
    args = parser.parse_args()

    def scan(hardened: bool) -> ScanResult:
        return asyncio.run(
            demo_scan(hardened, not args.no_spec, rate=args.rate, progress=lambda _m: None)
        )

    vulnerable, hardened = scan(False), scan(True)
    if args.write_truth:
        truth_map: dict[str, list[str]] = {}
        for kind, op in sorted(keyed(vulnerable)):
            truth_map.setdefault(kind, []).append(op)
        TRUTH.write_text(json.dumps(truth_map, indent=1, sort_keys=True) + "\n", "utf-8")
        print(f"wrote {TRUTH} ({sum(map(len, truth_map.values()))} entries)")
    truth = {(kind, op) for kind, ops in json.loads(TRUTH.read_text("utf-8")).items() for op in ops}
    if args.no_spec:  # without a spec some operations cannot be found: judge only what was
        truth = {t for t in truth if t in keyed(vulnerable)}
    tp, fp, fn = Counter[str](), Counter[str](), Counter[str]()
    found = keyed(vulnerable)
    for kind, op in found:
        (tp if (kind, op) in truth else fp)[kind] += 1
    for kind, _op in keyed(hardened):
        fp[kind] += 1
    for kind, _op in truth - found:
        fn[kind] += 1
    kinds = sorted(set(tp) | set(fp) | set(fn))
    print(f"{'kind':<48} {'TP':>4} {'FP':>4} {'FN':>4} {'precision':>10}")
    for kind in kinds:
        p = tp[kind] / (tp[kind] + fp[kind]) if tp[kind] + fp[kind] else 1.0
        print(f"{kind:<48} {tp[kind]:>4} {fp[kind]:>4} {fn[kind]:>4} {p:>10.2f}")
    t, f, n = sum(tp.values()), sum(fp.values()), sum(fn.values())
    print(
        f"{'all kinds':<48} {t:>4} {f:>4} {n:>4} {t / (t + f) if t + f else 1.0:>10.2f}"
        f"   recall {t / (t + n) if t + n else 1.0:.2f}"
    )


if __name__ == "__main__":
    main()
