"""The seed examples on real time against the same examples on the virtual clock.

Runs ``pytest tests/seeds`` once per clock (each example is parametrised ``[real]`` and
``[virtual]`` by ``tests/seeds/conftest.py``) and prints the summed test durations
(setup + call + teardown, from pytest's JUnit XML report) with their ratio. The target
of the virtual clock: under a tenth of the real-time duration.

    python benchmarks/seeds_virtual_time.py [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_suite(mode: str) -> tuple[float, int, dict[str, float]]:
    """Run the seed suite's ``mode`` variants; return (total seconds, tests, per test)."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.xml"
        command = [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/seeds",
            "-k",
            mode,
            f"--junitxml={report}",
        ]
        completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
        if completed.returncode != 0:
            sys.exit(f"the {mode} run failed:\n{completed.stdout}\n{completed.stderr}")
        cases = ElementTree.parse(report).getroot().iter("testcase")
        per_test = {
            f"{c.get('classname')}::{c.get('name')}": float(c.get("time", 0)) for c in cases
        }
    return sum(per_test.values()), len(per_test), per_test


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per clock (median kept)")
    args = parser.parse_args()
    totals: dict[str, list[float]] = {"real": [], "virtual": []}
    counts: dict[str, int] = {}
    slowest: dict[str, dict[str, float]] = {}
    for _ in range(args.repeat):
        for mode in totals:
            total, count, per_test = run_suite(mode)
            totals[mode].append(total)
            counts[mode] = count
            slowest[mode] = per_test
    real, virtual = (statistics.median(totals[m]) for m in ("real", "virtual"))
    load = os.getloadavg()[0]
    print(f"seed examples, median of {args.repeat} runs (load average {load:.1f})")
    print(f"{'clock':<10}{'tests':>7}{'duration':>12}")
    print(f"{'real':<10}{counts['real']:>7}{real:>11.3f}s")
    print(f"{'virtual':<10}{counts['virtual']:>7}{virtual:>11.3f}s")
    ratio = virtual / real
    verdict = "pass" if ratio < 0.1 else "FAIL"
    print(f"virtual / real = {ratio:.3f}   (target < 0.100: {verdict})")
    print("slowest virtual-time examples:")
    for name, seconds in sorted(slowest["virtual"].items(), key=lambda kv: -kv[1])[:5]:
        print(f"  {seconds:7.3f}s  {name}")


if __name__ == "__main__":
    main()
