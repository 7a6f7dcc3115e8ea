"""Benchmark ``export-lint verify``: wall time, per-case export seconds and peak memory.

Runs the command as a user would (a fresh process, imports included) and prints a Markdown table
for the README. Usage: ``python benchmarks/verify_bench.py [--model mvit,sam2] [--repeat N]``.

``--target`` measures ``export-lint verify FILE.py:FACTORY`` on a model that exports cleanly
(``verify_target_model.py``: resnet18, dynamic batch) against the bare work it replaces, a fresh
process that imports torch, calls ``torch.export.export`` and compares with eager on the same inputs
(example shape, then two other batch sizes). Targets: <= 1.5x the time, <= 1.3x the peak memory.
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


BARE = """
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
import torch
from verify_target_model import make
spec = make()
model, args = spec["model"], spec["args"]
start = time.perf_counter()
program = torch.export.export(model, args, dynamic_shapes=spec["dynamic_shapes"])
export_seconds = time.perf_counter() - start
agree = []
with torch.no_grad():
    for batch in (args[0].shape[0], 2, 3):
        x = torch.randn(batch, *args[0].shape[1:])
        agree.append(torch.allclose(program.module()(x), model(x), rtol=1e-4, atol=1e-5))
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"export_seconds": export_seconds, "agree": agree, "peak_rss_bytes": usage.ru_maxrss * 1024}))
"""


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_target_pair() -> tuple[dict, dict]:
    """(bare torch.export + eager comparison, export-lint verify) on the same model, each in fresh processes."""
    folder = Path(__file__).resolve().parent
    cpu, start = _children_cpu(), time.perf_counter()
    bare = subprocess.run([sys.executable, "-c", BARE, str(folder)], capture_output=True, text=True, check=True)
    bare_data = json.loads(bare.stdout.strip().splitlines()[-1])
    bare_data.update(wall=time.perf_counter() - start, cpu=_children_cpu() - cpu)
    with tempfile.TemporaryDirectory() as temporary:
        report = Path(temporary) / "verify.json"
        spec = f"{folder / 'verify_target_model.py'}:make"
        command = [sys.executable, "-m", "export_lint", "verify", spec, "--json", str(report), "--no-progress"]
        cpu, start = _children_cpu(), time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        wall = time.perf_counter() - start
        data = json.loads(report.read_text(encoding="utf-8"))
    target = data["targets"][0]
    verify_data = {
        "wall": wall,
        "cpu": _children_cpu() - cpu,
        "peak_rss_bytes": target["peak_rss_bytes"],
        "exit_code": done.returncode,
        "export_seconds": target["exports"][0]["seconds"].get("export"),
        "comparisons": len(target["exports"][0]["comparisons"]),
    }
    return bare_data, verify_data


def main_target(repeat: int) -> int:
    pairs = [run_target_pair() for _ in range(repeat)]
    bare = min((pair[0] for pair in pairs), key=lambda run: run["wall"])
    verify = min((pair[1] for pair in pairs), key=lambda run: run["wall"])
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"verify_target_model.py:make (resnet18, 96x96, dynamic batch), best of {repeat}; load average {load:.1f}\n")
    print("| | wall s | CPU s | peak RSS | export s |")
    print("|---|---|---|---|---|")
    for label, run in (("bare torch.export + eager comparison", bare), ("export-lint verify", verify)):
        print(
            f"| {label} | {run['wall']:.1f} | {run['cpu']:.1f} | {run['peak_rss_bytes'] / 2**30:.2f} GiB "
            f"| {run['export_seconds']:.1f} |"
        )
    print(
        f"\nratios: wall {verify['wall'] / bare['wall']:.2f}x (target <= 1.5x), CPU {verify['cpu'] / bare['cpu']:.2f}x, "
        f"peak {verify['peak_rss_bytes'] / bare['peak_rss_bytes']:.2f}x (target <= 1.3x); verify exit "
        f"{verify['exit_code']}, {verify['comparisons']} comparisons (bare: {len(bare['agree'])})"
    )
    return 0 if verify["exit_code"] == 0 else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="comma-separated cases (default: all)")
    parser.add_argument("--repeat", type=int, default=1, help="runs to take the best wall time of")
    parser.add_argument("--target", action="store_true", help="verify FILE:FACTORY against bare torch.export")
    args = parser.parse_args()
    if args.target:
        return main_target(args.repeat)

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
