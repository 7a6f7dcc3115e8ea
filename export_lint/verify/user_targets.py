"""``export-lint verify TARGET...`` / ``--script``: run each target in its own worker, report like ``check``.

This side never imports torch: the worker (``export_lint.verify.worker``) does the exports; here its
JSON result becomes diagnostics (cross-referenced with ``check``'s findings on the same lines),
notes, a ``--json`` report, and, with ``--fix``, source edits.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from export_lint.diagnostics import Applicability, Diagnostic, FileResult, Fix, LineIndex, Location

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
DEFAULT_TIMEOUT = 600.0
#: The tail of the user's output kept in the --json report.
OUTPUT_TAIL = 4000


@dataclasses.dataclass
class Target:
    """One thing to verify: a factory spec, or a script with its arguments."""

    label: str
    factory: str | None = None
    script: str | None = None
    argv: list[str] = dataclasses.field(default_factory=list)

    def request(self, strict: bool | None, select: list[str] | None) -> dict[str, Any]:
        return {
            "label": self.label,
            "factory": self.factory,
            "script": self.script,
            "argv": self.argv,
            "strict": strict,
            "select": select,
        }


@dataclasses.dataclass
class TargetRun:
    """What the worker said about one target (``data`` is its JSON result), plus the user's output."""

    target: Target
    data: dict[str, Any]
    stdout: str = ""
    stderr: str = ""
    wall_seconds: float = 0.0

    @property
    def error(self) -> str | None:
        return self.data.get("error")

    @property
    def findings(self) -> list[dict]:
        return [finding for check in self.data.get("exports", []) for finding in check["findings"]]


def run_target(
    target: Target,
    *,
    strict: bool | None = None,
    select: list[str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    python: str | None = None,
) -> TargetRun:
    """Check one target in a fresh worker process, killed (with its children) after ``timeout`` seconds."""
    with tempfile.TemporaryDirectory(prefix="export-lint-verify-") as folder:
        request_path, result_path = Path(folder) / "request.json", Path(folder) / "result.json"
        request_path.write_text(json.dumps(target.request(strict, select)), encoding="utf-8")
        command = [python or sys.executable, "-m", "export_lint.verify.worker", str(request_path), str(result_path)]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        started = time.perf_counter()
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            start_new_session=True,
            env=env,
        )
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            stdout, stderr = process.communicate()
            data = {
                "target": target.label,
                "error": f"{target.label}: export did not finish within --timeout {timeout:g} s",
            }
            return TargetRun(target, data, stdout, stderr, time.perf_counter() - started)
        wall = time.perf_counter() - started
        if not result_path.exists():
            tail = "; ".join(stderr.strip().splitlines()[-3:]) or "no output"
            data = {
                "target": target.label,
                "error": f"{target.label}: the worker died (exit {process.returncode}): {tail}",
            }
            return TargetRun(target, data, stdout, stderr, wall)
        data = json.loads(result_path.read_text(encoding="utf-8"))
        return TargetRun(target, data, stdout, stderr, wall)


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        process.kill()


# -- diagnostics and the cross-reference -------------------------------------------------------
def display_path(path: str) -> str:
    """Relative to the working folder when inside it, as ``check`` prints paths."""
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return path
    return path if relative.startswith("..") else relative


def read_text(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError):
        return None


def _static_on_line(run: TargetRun, path: str, line: int) -> list[dict]:
    return [item for item in run.data.get("static", {}).get(path, []) if item["row"] == line]


def suggested_fix(finding: dict, text: str | None, index: LineIndex | None) -> Fix | None:
    """The finding's suggested fix (``suggestions``' ``{"message", "edits"}``) as a Fix on ``text``."""
    from export_lint.verify.suggestions import as_edits

    suggestion = finding.get("fix")
    if not suggestion or text is None or index is None:
        return None
    edits = as_edits(text, suggestion)
    return Fix(suggestion["message"], tuple(edits), Applicability.UNSAFE) if edits else None


def diagnostics_of(run: TargetRun) -> list[Diagnostic]:
    """The runtime findings of one target as Diagnostics, each saying whether ``check`` agrees."""
    found = []
    for finding in run.findings:
        path = finding["path"]
        statically = _static_on_line(run, path, finding["line"])
        if statically:
            codes = ", ".join(sorted({item["code"] for item in statically}))
            verdict = f"also found statically ({codes})"
        else:
            verdict = "not found statically"
        text = read_text(path)
        index = LineIndex(text) if text is not None else None
        start = Location(finding["line"], finding["column"])
        end_column = finding.get("end_column")
        if end_column is None and index is not None and finding["line"] <= len(index.line_starts):
            end_column = len(index.line_text(finding["line"])) + 1
        end = Location(finding["line"], max(end_column or finding["column"], finding["column"]))
        message = f"{finding['message']} [{verdict}]"
        found.append(
            Diagnostic(
                finding["code"],
                finding["name"],
                message,
                display_path(path),
                start,
                end,
                fix=suggested_fix(finding, text, index),
                noqa_row=finding["line"],
            )
        )
    return found


def unconfirmed(run: TargetRun) -> list[str]:
    """Static findings on lines the non-strict trace executed without a failure."""
    failed = {(finding["path"], finding["line"]) for finding in run.findings}
    notes = []
    for check in run.data.get("exports", []):
        for path, lines in check.get("executed", {}).items():
            for line in lines:
                if (path, line) in failed:
                    continue
                for item in _static_on_line(run, path, line):
                    notes.append(
                        f"{display_path(path)}:{line}:{item['column']}: {item['code']} {item['message']} "
                        "[not confirmed on this input: the trace ran this line without a failure]"
                    )
    return list(dict.fromkeys(notes))


def file_results(diagnostics: list[Diagnostic]) -> list[FileResult]:
    """Diagnostics grouped by file, with the source lines the ``full`` format frames them with."""
    by_path: dict[str, list[Diagnostic]] = {}
    for d in sorted(diagnostics, key=Diagnostic.sort_key):
        by_path.setdefault(d.path, []).append(d)
    results = []
    for path, items in by_path.items():
        text = read_text(path)
        lines: dict[int, str] = {}
        if text is not None:
            index = LineIndex(text)
            for d in items:
                for row in range(max(1, d.start.row - 1), d.end.row + 2):
                    if row <= len(index.line_starts):
                        lines[row] = index.line_text(row)
        results.append(FileResult(path, items, lines))
    return results


# -- the --json report -------------------------------------------------------------------------
def report_json(runs: list[TargetRun], seconds: float) -> dict[str, Any]:
    from export_lint import __version__

    targets = []
    for run in runs:
        data = run.data
        targets.append(
            {
                "target": run.target.label,
                "kind": "script" if run.target.script else "factory",
                "error": run.error,
                "exports": data.get("exports", []),
                "script": data.get("script"),
                "seconds": data.get("seconds"),
                "wall_seconds": round(run.wall_seconds, 3),
                "cpu_seconds": data.get("cpu_seconds"),
                "peak_rss_bytes": data.get("peak_rss_bytes"),
                "static": data.get("static", {}),
                "not_confirmed": unconfirmed(run),
                "output": {"stdout": run.stdout[-OUTPUT_TAIL:], "stderr": run.stderr[-OUTPUT_TAIL:]},
            }
        )
    torch_version = next((run.data.get("torch") for run in runs if run.data.get("torch")), None)
    return {"export_lint": __version__, "torch": torch_version, "seconds": round(seconds, 3), "targets": targets}


# -- running it all -----------------------------------------------------------------------------
def verify_targets(
    targets: list[Target],
    *,
    strict: bool | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    select: list[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[TargetRun]:
    """Run every target (each in its own worker); a target that fails does not stop the others."""
    runs = []
    say = progress or (lambda _: None)
    for number, target in enumerate(targets, start=1):
        say(f"[{number}/{len(targets)}] {target.label}: exporting")
        run = run_target(target, strict=strict, select=select, timeout=timeout)
        runs.append(run)
        say(f"[{number}/{len(targets)}] {target.label}: {describe(run)}")
    return runs


def describe(run: TargetRun) -> str:
    """One progress line: the outcome of each export, timings and peak memory."""
    if run.error:
        return f"error ({run.wall_seconds:.1f}s)"
    parts = []
    for check in run.data.get("exports", []):
        timing = ", ".join(f"{key} {value:.1f}s" for key, value in check["seconds"].items())
        count = len(check["findings"])
        parts.append(f"{check['status']}, {count} finding{'s' if count != 1 else ''} ({timing})")
    peak = (run.data.get("peak_rss_bytes") or 0) / 2**30
    script = run.data.get("script")
    tail = f"; script exited {script['exit_code']}" if script else ""
    return f"{'; '.join(parts)}; peak {peak:.2f} GiB, {run.wall_seconds:.1f}s{tail}"
