"""``verify --fix`` / ``--fix --apply``: draft_export's suggestions as a diff, or written and re-verified.

The same safety as ``fix``: every edited file must still compile, it is written atomically (and not
at all if it changed since it was read), and the target is verified again. When the re-run does not
have fewer findings, or the target can no longer be checked, the original bytes are put back.
"""

from __future__ import annotations

import sys

from export_lint.diagnostics import LineIndex
from export_lint.fixer import ConcurrentModification, apply_fixes, content_hash, unified_diff, write_atomic
from export_lint.verify import user_targets
from export_lint.verify.user_targets import TargetRun


def _edits_by_file(run: TargetRun) -> dict[str, list]:
    fixes: dict[str, list] = {}
    for finding in run.findings:
        text = user_targets.read_text(finding["path"])
        if text is None:
            continue
        fix = user_targets.suggested_fix(finding, text, LineIndex(text))
        if fix is not None:
            fixes.setdefault(finding["path"], []).append(fix)
    return fixes


def _fixed_texts(run: TargetRun) -> dict[str, tuple[bytes, str]]:
    """{path: (original bytes, fixed text)} for files whose fixed text compiles."""
    out = {}
    for path, fixes in _edits_by_file(run).items():
        with open(path, "rb") as handle:
            data = handle.read()
        text = data.decode("utf-8")
        fixed, applied = apply_fixes(text, fixes)
        if not applied or fixed == text:
            continue
        try:
            compile(fixed, path, "exec", dont_inherit=True)
        except (SyntaxError, ValueError) as error:
            print(f"warning: {path}: the suggested fixes do not compile ({error}); left alone", file=sys.stderr)
            continue
        out[path] = (data, fixed)
    return out


def fix_runs(runs: list[TargetRun], *, apply: bool, strict, timeout: float, select) -> list[TargetRun]:
    """Show (or write and re-verify) each target's fixes; returns the runs to report."""
    final = []
    for run in runs:
        if run.error:
            final.append(run)
            continue
        texts = _fixed_texts(run)
        for path, (data, fixed) in texts.items():
            display = user_targets.display_path(path)
            sys.stdout.write(unified_diff(data.decode("utf-8"), fixed, display))
        if not apply or not texts:
            final.append(run)
            continue
        written = []
        try:
            for path, (data, fixed) in texts.items():
                write_atomic(path, fixed, "utf-8", expected_hash=content_hash(data))
                written.append(path)
        except (ConcurrentModification, OSError) as error:
            print(f"warning: cannot write {error}; nothing applied for {run.target.label}", file=sys.stderr)
            _restore(texts, written)
            final.append(run)
            continue
        rerun = user_targets.run_target(run.target, strict=strict, select=select, timeout=timeout)
        if rerun.error or len(rerun.findings) >= len(run.findings):
            _restore(texts, written)
            why = rerun.error or f"{len(rerun.findings)} finding(s) remain of {len(run.findings)}"
            print(f"warning: {run.target.label}: the fixes did not re-verify ({why}); reverted", file=sys.stderr)
            final.append(run)
            continue
        for path in written:
            print(
                f"Fixed {user_targets.display_path(path)}: re-verified, {len(run.findings)} -> "
                f"{len(rerun.findings)} finding(s)",
                file=sys.stderr,
            )
        final.append(rerun)
    return final


def _restore(texts: dict[str, tuple[bytes, str]], written: list[str]) -> None:
    for path in written:
        data, _ = texts[path]
        write_atomic(path, data.decode("utf-8"), "utf-8")
