"""Run export-lint over the biggest installed ML source trees: no crash, no hang, no broken fix.

    python scripts/corpus.py                      # torch, torchvision, transformers, sam2
    python scripts/corpus.py --slice              # the CI slice: 4 HF models + torchvision/models
    python scripts/corpus.py --packages sam2 --json report.json
    python scripts/corpus.py --sample 8 --no-fix  # CI: each tree's largest and most regex-hostile files

For each tree (copied, Python files only, into a temporary folder so fixes never touch the
installed packages): ``check --select ALL`` with a per-file timeout, reporting files, lines,
seconds, diagnostics per code, internal errors and hangs; then ``export-lint fix --apply
--unsafe-fixes --select ALL`` on the copy, checking that every changed file still parses
(LibCST) and compiles (``compile()``), that a second run changes nothing, and that nothing
printed a Python traceback. Exit status 1 when any of that fails.
"""

from __future__ import annotations

import argparse
import collections
import functools
import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PACKAGES = ("torch", "torchvision", "transformers", "sam2")
#: A slice small enough for CI: models the cookbook is about, and torchvision's model zoo.
SLICE = {
    "transformers": ("models/whisper", "models/blip", "models/bert", "models/llama"),
    "torchvision": ("models",),
}


def package_root(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def copy_python_tree(source: Path, destination: Path) -> None:
    """Copy only the .py/.pyi files (torch ships gigabytes of shared libraries)."""
    for folder, _, names in os.walk(source):
        for name in names:
            if name.endswith((".py", ".pyi")):
                target = destination / Path(folder).relative_to(source) / name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(os.path.join(folder, name), target)


def _hostility(text: str) -> tuple[int, int, int]:
    """The longest run of ``#``, of blanks, and of backslash-continued lines: what made the old
    regexes backtrack."""

    def longest(pattern: str) -> int:
        return max(map(len, re.findall(pattern, text)), default=0)

    return longest(r"#+"), longest(r"[ \t]+"), longest(r"(?:\\\n)+") // 2


def sample_files(source: Path, per_kind: int, max_bytes: int = 150_000) -> list[Path]:
    """The ``per_kind`` largest files (under ``max_bytes``) and the ``per_kind`` files with the
    longest runs of ``#``, of blanks and of continuation lines: the files most likely to be slow."""
    files = [p for p in sorted(source.rglob("*.py")) if p.is_file()]
    sizes = {p: p.stat().st_size for p in files}
    small = [p for p in files if sizes[p] < max_bytes]
    chosen = dict.fromkeys(sorted(small, key=lambda p: (sizes[p], str(p)), reverse=True)[:per_kind])
    scores = {p: _hostility(p.read_text(encoding="utf-8", errors="replace")) for p in small}
    for kind in range(3):
        chosen.update(dict.fromkeys(sorted(scores, key=lambda p: (scores[p][kind], str(p)), reverse=True)[:per_kind]))
    return list(chosen)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(root: Path) -> dict[str, str]:
    return {str(path.relative_to(root)): digest(path) for path in sorted(root.rglob("*.py*")) if path.is_file()}


def check_tree(root: Path, jobs: int | None, timeout: float) -> dict:
    """``check --select ALL`` through the library, so that each file runs under a timeout."""
    from export_lint.config import Settings
    from export_lint.discovery import discover

    settings = Settings(select=("ALL",), project_root=str(root), traced="all-modules")  # every forward, as a library
    files = discover([str(root)], settings).files
    lines = 0
    for path in files:
        with open(path, "rb") as handle:
            lines += handle.read().count(b"\n")
    start = time.perf_counter()
    from export_lint.runner import run_parallel

    timed = run_parallel(functools.partial(timed_lint, settings=settings), files, jobs, timeout=timeout)
    seconds = time.perf_counter() - start
    results = [result for result, _ in timed]
    slowest = max(zip(files, (took for _, took in timed), strict=True), key=lambda pair: pair[1], default=("", 0.0))
    per_code = collections.Counter(d.code for result in results for d in result.diagnostics)
    internal = [f"{d.path}: {d.message}" for result in results for d in result.diagnostics if d.internal_error]
    # Over the per-file budget (EXP000 timeout / memory-limit), or a worker killed for it.
    hangs = [
        f"{d.path}: {d.message}"
        for result in results
        for d in result.diagnostics
        if d.name in ("timeout", "memory-limit") or (d.internal_error and "took over" in d.message)
    ]
    return {
        "files": len(files),
        "lines": lines,
        "seconds": round(seconds, 1),
        "slowest": [os.path.relpath(slowest[0], root) if slowest[0] else "", round(slowest[1], 2)],
        "diagnostics": dict(sorted(per_code.items())),
        "syntax_errors": [f"{d.path}: {d.message}" for r in results for d in r.diagnostics if d.name == "syntax-error"],
        "internal_errors": [entry for entry in internal if entry not in hangs],
        "hangs": hangs,
    }


def timed_lint(path: str, settings) -> tuple:
    """``lint_file`` and the seconds it took (in the worker)."""
    from export_lint.runner import lint_file

    start = time.perf_counter()
    result = lint_file(path, settings)
    return result, time.perf_counter() - start


def _timed_failure(path: str, reason: str) -> tuple:
    from export_lint.runner import lint_failure

    return lint_failure(path, reason), 0.0


def _timed_timeout(path: str, seconds: float, phase: str) -> tuple:
    from export_lint.runner import lint_timeout

    return lint_timeout(path, seconds, phase), seconds


def _timed_memory(path: str, phase: str) -> tuple:
    from export_lint.runner import lint_over_memory

    return lint_over_memory(path, phase), 0.0


timed_lint.on_failure = _timed_failure  # type: ignore[attr-defined]
timed_lint.on_timeout = _timed_timeout  # type: ignore[attr-defined]
timed_lint.on_memory = _timed_memory  # type: ignore[attr-defined]


def run_fix(root: Path, jobs: int | None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "export_lint", "fix", "--apply", "--unsafe-fixes", "--select", "ALL", "."]
    if jobs:
        command += ["-j", str(jobs)]
    return subprocess.run(command, cwd=root, capture_output=True, text=True, check=False)


def fix_tree(root: Path, jobs: int | None) -> dict:
    """Apply every fix, then prove each changed file parses, compiles and is a fixpoint."""
    import libcst

    before = snapshot(root)
    start = time.perf_counter()
    first = run_fix(root, jobs)
    seconds = time.perf_counter() - start
    after = snapshot(root)
    changed = sorted(name for name, value in after.items() if before.get(name) != value)
    broken = []
    for name in changed:
        data = (root / name).read_bytes()
        try:
            libcst.parse_module(data)
            compile(data, name, "exec", dont_inherit=True)
        except Exception as error:
            broken.append(f"{name}: {type(error).__name__}: {error}")
    second = run_fix(root, jobs) if changed else None
    again = snapshot(root)
    not_idempotent = sorted(name for name in changed if again.get(name) != after.get(name))
    tracebacks = [p.stderr[-2000:] for p in (first, second) if p is not None and "Traceback" in p.stderr + p.stdout]
    return {
        "changed_files": len(changed),
        "seconds": round(seconds, 1),
        "exit_codes": [p.returncode for p in (first, second) if p is not None],
        "broken_fixes": broken,
        "not_idempotent": not_idempotent,
        "tracebacks": tracebacks,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--packages", nargs="+", default=list(PACKAGES))
    parser.add_argument("--slice", action="store_true", help="only the CI slice (4 HF models, torchvision/models)")
    parser.add_argument(
        "--sample", type=int, metavar="N", help="only each tree's N largest and N most regex-hostile files (per kind)"
    )
    parser.add_argument("-j", "--jobs", type=int)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per file before it counts as a hang")
    parser.add_argument("--no-fix", action="store_true", help="skip the fix round")
    parser.add_argument("--json", type=Path, help="write the report here too")
    args = parser.parse_args(argv)
    packages = [name for name in args.packages if not args.slice or name in SLICE]
    report: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="export-lint-corpus-") as scratch:
        for name in packages:
            source = package_root(name)
            if source is None:
                print(f"{name}: not installed, skipped", file=sys.stderr)
                continue
            copy = Path(scratch) / name
            if args.sample:
                for path in sample_files(source, args.sample):
                    target = copy / path.relative_to(source)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(path, target)
            else:
                for part in SLICE[name] if args.slice else ("",):
                    copy_python_tree(source / part, copy / part)
            entry = {"check": check_tree(copy, args.jobs, args.timeout)}
            if not args.no_fix:
                entry["fix"] = fix_tree(copy, args.jobs)
            report[name] = entry
            check = entry["check"]
            print(
                f"{name}: {check['files']} files, {check['lines']} lines, {check['seconds']} s "
                f"(slowest {check['slowest'][0]}: {check['slowest'][1]} s), "
                f"{sum(check['diagnostics'].values())} diagnostics {check['diagnostics']}, "
                f"{len(check['internal_errors'])} internal errors, {len(check['hangs'])} hangs"
                + (
                    f"; fix: {entry['fix']['changed_files']} files changed in {entry['fix']['seconds']} s, "
                    f"{len(entry['fix']['broken_fixes'])} broken, {len(entry['fix']['not_idempotent'])} not idempotent, "
                    f"{len(entry['fix']['tracebacks'])} tracebacks"
                    if "fix" in entry
                    else ""
                ),
                flush=True,
            )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2), encoding="utf-8")
    failed = any(
        entry["check"]["internal_errors"]
        or entry["check"]["hangs"]
        or entry.get("fix", {}).get("broken_fixes")
        or entry.get("fix", {}).get("not_idempotent")
        or entry.get("fix", {}).get("tracebacks")
        for entry in report.values()
    )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
