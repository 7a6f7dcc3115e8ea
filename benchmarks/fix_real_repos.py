"""Apply every fix (``fix --apply --unsafe-fixes --select ALL``) to copies of real repositories,
then compile and run every changed file, original and fixed, and compare what happened.

    python benchmarks/fix_real_repos.py /tmp/checkouts/pytorch+executorch ... --work /tmp/fixrun \\
        --json benchmarks/results/fix_real_repos.json

Each argument is a checked-out repository (read only: the script copies its ``.py`` files). A
changed file is byte-compiled, then run as a script (``python file.py``, on the CPU, with a timeout,
the copy's root on ``PYTHONPATH``) before and after the fixes. Verdicts: ``broken`` (the fixed file
does not compile, or raises NameError, or raises where the original ran cleanly), ``improved`` (the
original raised, the fixed file runs), ``same`` (both run, or both stop at the same error: usually
a missing package, data or GPU), ``changed-error`` (both raise, differently: read it).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import py_compile
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

EXPORT_LINT = [sys.executable, "-m", "export_lint"]
#: Address-space cap for the scripts run (the machine is shared).
MEMORY_LIMIT = 6 * 2**30


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    os.nice(10)


def copy_python_files(source: Path, target: Path) -> int:
    if target.exists():
        shutil.rmtree(target)
    count = 0
    for path in source.rglob("*.py"):
        if ".git" in path.parts or not path.is_file():
            continue
        destination = target / path.relative_to(source)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, destination)
        count += 1
    return count


def diagnostics(root: Path) -> list[dict]:
    result = subprocess.run(
        [*EXPORT_LINT, "check", "--select", "ALL", "--no-cache", "--output-format", "json", "--exit-zero", str(root)],
        capture_output=True,
        text=True,
    )
    return json.loads(result.stdout or "[]")


def run_script(path: Path, root: Path, timeout: float) -> str:
    """'ok', 'timeout' or the last line of the error the script ended with."""
    environment = {**os.environ, "PYTHONPATH": str(root), "CUDA_VISIBLE_DEVICES": "", "PYTHONDONTWRITEBYTECODE": "1"}
    try:
        result = subprocess.run(
            [sys.executable, path.name],
            cwd=path.parent,
            env=environment,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            preexec_fn=_limit_memory,
        )
    except subprocess.TimeoutExpired:
        return "timeout"
    if result.returncode == 0:
        return "ok"
    lines = [line for line in result.stderr.strip().splitlines() if line and not line.startswith(" ")]
    return (lines[-1] if lines else f"exit {result.returncode}")[:300]


def verdict(before: str, after: str) -> str:
    if after.startswith("NameError") or (before in ("ok", "timeout") and after not in ("ok", "timeout")):
        return "broken"
    if after == "ok" and before != "ok":
        return "improved"
    if before == after or (after == "timeout" and before == "timeout"):
        return "same"
    return "changed-error"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("repos", nargs="+", type=Path)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--timeout", type=float, default=120)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    report = []
    for repo in args.repos:
        original = args.work / "original" / repo.name
        fixed = args.work / "fixed" / repo.name
        files = copy_python_files(repo, original)
        copy_python_files(repo, fixed)
        before = diagnostics(original)
        started = time.perf_counter()
        subprocess.run(
            [*EXPORT_LINT, "fix", "--apply", "--unsafe-fixes", "--select", "ALL", "--no-cache", str(fixed)],
            capture_output=True,
        )
        fix_seconds = time.perf_counter() - started
        after = diagnostics(fixed)
        fixed_codes = collections.Counter(d["code"] for d in before) - collections.Counter(d["code"] for d in after)
        changed = []
        for path in sorted(original.rglob("*.py")):
            twin = fixed / path.relative_to(original)
            if path.read_bytes() == twin.read_bytes():
                continue
            entry = {"file": str(path.relative_to(original))}
            try:
                py_compile.compile(str(twin), doraise=True, cfile=str(args.work / "compiled.pyc"))
                entry["compiles"] = True
            except py_compile.PyCompileError as error:
                entry["compiles"], entry["compile_error"] = False, str(error)
            entry["before"] = run_script(path, original, args.timeout)
            entry["after"] = run_script(twin, fixed, args.timeout) if entry["compiles"] else "does not compile"
            entry["verdict"] = "broken" if not entry["compiles"] else verdict(entry["before"], entry["after"])
            changed.append(entry)
            print(
                f"{repo.name}/{entry['file']}: {entry['verdict']} ({entry['before']} -> {entry['after']})", flush=True
            )
        report.append(
            {
                "repo": repo.name,
                "python_files": files,
                "diagnostics_before": len(before),
                "diagnostics_after": len(after),
                "fixed_by_code": dict(sorted(fixed_codes.items())),
                "fix_seconds": round(fix_seconds, 1),
                "changed_files": changed,
            }
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    verdicts = collections.Counter(entry["verdict"] for repo in report for entry in repo["changed_files"])
    print(dict(verdicts))
    return 1 if verdicts["broken"] else 0


if __name__ == "__main__":
    sys.exit(main())
