"""The process that checks one target: ``python -m export_lint.verify.worker REQUEST.json RESULT.json``.

One target per process, so a crash, a hang or a leak stays with it. The request says what to check
(``factory`` spec or ``script`` path with ``argv``), the mode override and the static selection; the
result is JSON (see ``user_targets``). The user's own output goes to this process's stdout/stderr.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
import traceback
from typing import Any

from export_lint.verify.memory import cpu_seconds, max_rss_bytes
from export_lint.verify.targets import TargetError, call_factory, load_factory, parse_spec


class _Session:
    """The static findings of every file seen so far, and the checks made.

    ``lint=False`` leaves the static side to the caller (the recall corpus re-lints from its cache);
    ``track_all`` records every line the non-strict trace ran in the model's code (its files, its
    library's package, user code), not only the flagged ones."""

    def __init__(self, select: list[str] | None, strict: bool | None, lint: bool = True, track_all: bool = False):
        self.select = select
        self.strict = strict
        self.lint = lint
        self.track_all = track_all
        self.static: dict[str, list[dict]] = {}
        self.checks: list = []
        self.roots: list = []
        self.files: dict[str, None] = {}

    def _lint(self, paths: list[str]) -> None:
        from export_lint.verify.static_side import static_findings

        new = [path for path in paths if path not in self.static]
        if new and self.lint:
            for path, items in static_findings(new, self.select, self.roots).items():
                self.static.setdefault(path, items)
            for path in new:
                self.static.setdefault(path, [])

    def check(self, label: str, request, anchor, extra_files: list[str]):
        from export_lint.verify.check_export import check_export
        from export_lint.verify.static_side import export_root, model_files, traced_code, watched_lines

        root = export_root(request.model)
        if root is not None and root not in self.roots:
            self.roots.append(root)
        files = model_files(request.model, extra_files)
        self.files.update(dict.fromkeys(files))
        self._lint(files)
        watch = watched_lines(self.static)
        every = traced_code(self.roots, self.files) if self.track_all else None
        check = check_export(request, label, strict=self.strict, watch=watch, anchor=anchor, every_line_of=every)
        self._lint([finding.path for finding in check.findings])
        self.checks.append(check)
        return check


def _factory_anchor(factory):
    import inspect

    from export_lint.verify.locate import Frame

    try:
        path = inspect.getsourcefile(factory)
        _, line = inspect.getsourcelines(factory)
    except (OSError, TypeError):
        return None, []
    return (Frame(os.path.abspath(path), line, factory.__name__), [path]) if path else (None, [])


def run_factory(spec_text: str, session: _Session) -> None:
    spec = parse_spec(spec_text)
    factory = load_factory(spec)
    request = call_factory(spec, factory)
    anchor, extra = _factory_anchor(factory)
    session.check(spec_text, request, anchor, extra)


def program_call_check(path: str, error: BaseException):
    """The script called an exported program and it raised: a finding at the script's line of the call."""
    from export_lint.verify.check_export import ExportCheck, from_error, short_error
    from export_lint.verify.recorder import first_line

    finding = from_error(error, None)
    text = first_line(error)
    specialized = re.search(r"Guard failed|Expected input at .*shape|expected .* to be equal to", text)
    finding.code = "EXP101" if specialized else "EXP603"
    finding.message = f"the exported program fails when the script calls it: {short_error(text)}"
    check = ExportCheck(f"{path}: calling an exported program", "-", "fails on call", text, [finding])
    return check


def run_script_target(path: str, argv: list[str], session: _Session) -> dict[str, Any]:
    from export_lint.verify.intercept import run_script

    if not os.path.isfile(path):
        raise TargetError(f"{path}: no such script")
    failures: list[TargetError] = []

    def on_export(kind: str, request, site):
        where = f"{os.path.relpath(site.path)}:{site.line}" if site is not None else "?"
        label = f"{path}: {kind} #{len(session.checks) + 1} at {where}"
        try:
            return session.check(label, request, site, [os.path.abspath(path)])
        except TargetError as error:
            failures.append(error)
            raise

    outcome = run_script(path, argv, on_export)
    if failures:
        raise failures[0]
    reraised = any(check.raised is outcome.program_error for check in session.checks)
    if outcome.program_error is not None and session.checks and not reraised:
        session.checks.append(program_call_check(path, outcome.program_error))
    if not session.checks:
        if outcome.exit_code != 0:
            detail = f" ({outcome.error})" if outcome.error else ""
            raise TargetError(f"{path}: exited with status {outcome.exit_code} before any export call{detail}")
        raise TargetError(f"{path}: made no torch.export.export, draft_export or torch._dynamo.export call")
    return {"exit_code": outcome.exit_code, "error": outcome.error}


def run_request(request: dict[str, Any]) -> dict[str, Any]:
    """Check what a request names (see the module docstring); the result as JSON-ready data."""
    session = _Session(
        request.get("select"), request.get("strict"), request.get("lint", True), request.get("track_all", False)
    )
    started = time.perf_counter()
    result: dict[str, Any] = {"target": request["label"], "error": None}
    try:
        if request.get("script"):
            result["script"] = run_script_target(request["script"], request.get("argv", []), session)
        else:
            run_factory(request["factory"], session)
    except TargetError as error:
        result["error"] = str(error)
    except BaseException as error:  # a bug of ours or an escape from torch: reported, never a crash
        if isinstance(error, KeyboardInterrupt):
            raise
        result["error"] = f"{request['label']}: internal error: {traceback.format_exc(limit=-3).strip()}"
    result["exports"] = [check.to_json() for check in session.checks]
    result["static"] = session.static
    result["model_files"] = list(session.files)
    result["roots"] = [root.to_json() for root in session.roots]
    result["seconds"] = round(time.perf_counter() - started, 3)
    result["cpu_seconds"] = round(cpu_seconds(), 3)
    result["peak_rss_bytes"] = max_rss_bytes()
    from export_lint import versions

    result["torch"] = versions.installed_torch_version()
    return result


def main(argv: list[str]) -> int:
    request_path, result_path = argv
    with open(request_path, encoding="utf-8") as handle:
        request = json.load(handle)
    result = run_request(request)
    with open(result_path, "w", encoding="utf-8") as handle:
        json.dump(result, handle, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
