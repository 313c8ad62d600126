"""Precision and speed of `firebrick code` on the corpus in tests/source_corpus, side by side with
Bandit (when installed) on the same files.

    python benchmarks/bench_source.py

Prints, per shape, how many files are vulnerable and how many guarded, and for each tool the true
positives (a vulnerable file reported), false positives (a guarded file reported) and false
negatives; then the wall time and peak memory of firebrick on the lab's source and on its own tree.
Semgrep's public Flask rules live in its online registry, which this machine cannot reach, so it is
not run here (see docs/source.md).
"""

from __future__ import annotations

import json
import re
import resource
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from firebrick.source import analyze  # noqa: E402

CORPUS = ROOT / "tests" / "source_corpus"
# Bandit tests that speak to these shapes (anything else it says is about something else).
BANDIT_SHAPES = {
    "B310": {"fetch", "weak-guard", "rebinding", "redirect-follow"},  # urllib urlopen
    "B113": {"service"},  # requests without timeout
    "B501": {"service"},  # verify=False
}


def expectations() -> dict[Path, tuple[str, bool]]:
    out = {}
    for path in sorted(CORPUS.glob("*.py")):
        text = path.read_text()
        shape = re.search(r"^# shape: (\S+)", text, re.M)
        vulnerable = any(v.strip() != "none" for v in re.findall(r"^# expect: (.+)$", text, re.M))
        out[path] = (shape.group(1) if shape else "?", vulnerable)
    return out


def bandit_hits() -> dict[str, set[str]] | None:
    exe = shutil.which("bandit")
    if exe is None:
        return None
    proc = subprocess.run(
        [exe, "-q", "-f", "json", "-r", str(CORPUS)], capture_output=True, text=True, check=False
    )
    hits: dict[str, set[str]] = defaultdict(set)
    for r in json.loads(proc.stdout or "{}").get("results", []):
        hits[Path(r["filename"]).name].add(r["test_id"])
    return hits


def main() -> None:
    exp = expectations()
    bandit = bandit_hits()
    rows: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for path, (shape, vulnerable) in exp.items():
        row = rows[shape]
        row["vulnerable" if vulnerable else "guarded"] += 1
        reported = bool(analyze(path).findings)
        key = ("tp" if reported else "fn") if vulnerable else ("fp" if reported else "tn")
        row[f"fb_{key}"] += 1
        if bandit is not None:
            ids = {i for i in bandit.get(path.name, set()) if shape in BANDIT_SHAPES.get(i, set())}
            key = ("tp" if ids else "fn") if vulnerable else ("fp" if ids else "tn")
            row[f"bandit_{key}"] += 1

    head = f"{'shape':<16}{'vuln':>5}{'guarded':>8} | {'firebrick TP/FP/FN':>19} | {'bandit TP/FP/FN':>16}"
    print(head)
    print("-" * len(head))
    total: dict[str, int] = defaultdict(int)
    for shape in sorted(rows):
        r = rows[shape]
        for k, v in r.items():
            total[k] += v
        b = f"{r['bandit_tp']}/{r['bandit_fp']}/{r['bandit_fn']}" if bandit is not None else "n/a"
        fb = f"{r['fb_tp']}/{r['fb_fp']}/{r['fb_fn']}"
        print(f"{shape:<16}{r['vulnerable']:>5}{r['guarded']:>8} | {fb:>19} | {b:>16}")
    b = f"{total['bandit_tp']}/{total['bandit_fp']}/{total['bandit_fn']}" if bandit else "n/a"
    print("-" * len(head))
    fb = f"{total['fb_tp']}/{total['fb_fp']}/{total['fb_fn']}"
    print(f"{'all':<16}{total['vulnerable']:>5}{total['guarded']:>8} | {fb:>19} | {b:>16}")
    if bandit is None:
        print("bandit: not installed (pip install bandit) - its column is empty")

    print()
    print(f"{'tree':<22}{'files':>6}{'lines':>8}{'routes':>8}{'findings':>9}{'wall s':>8}")
    for name, path in (
        ("lab source", ROOT / "src" / "firebrick" / "lab"),
        ("firebrick's own tree", ROOT / "src" / "firebrick"),
    ):
        t0 = time.perf_counter()
        a = analyze(path)
        wall = time.perf_counter() - t0
        print(
            f"{name:<22}{a.files:>6}{a.lines:>8}{len(a.routes):>8}{len(a.findings):>9}{wall:>8.2f}"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process: {peak:.0f} MiB")


if __name__ == "__main__":
    main()
