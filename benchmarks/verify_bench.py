"""Benchmark ``export-lint verify``: wall time, per-case export seconds and peak memory.

Runs the command as a user would (a fresh process, imports included) and prints a Markdown table
for the README. Usage: ``python benchmarks/verify_bench.py [--model mvit,sam2] [--repeat N]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path


@dataclasses.dataclass
class Run:
    wall_seconds: float
    cpu_seconds: float  # user + system of the verify process: comparable across busy and idle machines
    peak_rss_bytes: int
    report: dict


def run_once(models: str | None) -> Run:
    """One ``export-lint verify --json`` in a fresh process, imports included."""
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "verify.json"
        command = [sys.executable, "-m", "export_lint", "verify", "--json", str(report)]
        if models:
            command += ["--model", models]
        start = time.perf_counter()
        process = subprocess.run(command, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if not report.exists():
            sys.exit(f"verify failed (exit {process.returncode}):\n{process.stdout}\n{process.stderr}")
        data = json.loads(report.read_text(encoding="utf-8"))
    data["exit_code"] = process.returncode
    data["stdout"] = process.stdout
    data["stderr"] = process.stderr
    return Run(wall, data["cpu_seconds"], data["peak_rss_bytes"], data)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="comma-separated cases (default: all)")
    parser.add_argument("--repeat", type=int, default=1, help="runs to take the best wall time of")
    args = parser.parse_args()

    runs = [run_once(args.model) for _ in range(args.repeat)]
    best = min(runs, key=lambda run: run.wall_seconds)
    report = best.report
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"export-lint verify{' --model ' + args.model if args.model else ''}: torch {report['torch']}, "
        f"{platform.machine()}, {os.cpu_count()} cores, device {report['device']}, load average {load:.1f}"
    )
    print(
        f"best of {len(runs)}: {best.wall_seconds:.0f} s wall, {best.cpu_seconds:.0f} s CPU (imports included), "
        f"peak RSS {best.peak_rss_bytes / 2**30:.2f} GiB, exit code {report['exit_code']}\n"
    )
    print(
        "| case | codes | original outcome | fixed | export s (before + after) | case s wall | case s CPU | peak RSS |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for case in report["cases"]:
        original = case["original"]
        outcome = "exports" if original["status"] == "exports" else f"`{original['error'][:60]}`"
        print(
            f"| {case['name']} | {', '.join(case['found_codes'])} | {outcome} | {case['fixed']['status']} "
            f"| {case['export_seconds']:.1f} | {case['seconds']:.1f} | {case['cpu_seconds']:.1f} "
            f"| {case['peak_rss_bytes'] / 2**30:.2f} GiB |"
        )
    print("\nexport-lint verify's own output (progress on stderr, then the table on stdout):\n")
    print(report["stderr"].rstrip())
    print(report["stdout"].rstrip())
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
