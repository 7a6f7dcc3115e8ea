"""Apply fixes: non-overlapping edits, re-lint to a fixpoint, write atomically."""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Sequence

from export_lint import fix_checks
from export_lint.config import Settings
from export_lint.diagnostics import Applicability, Diagnostic, Edit, Fix, LineIndex, Location, apply_edits
from export_lint.display import display_path
from export_lint.engine import file_error, lint_text, parse
from export_lint.file_write import ConcurrentModification, content_hash, describe_write_error, write_atomic
from export_lint.rule import Rule
from export_lint.source import LINE_BREAK, first_newline, read_source_file, split_lines

MAX_PASSES = 10


@dataclasses.dataclass
class FixResult:
    """The fixed text, how many fixes were applied, and what remains."""

    text: str
    applied: int
    remaining: list[Diagnostic]
    #: The original text and the edits of each pass, to report positions on the unfixed file.
    original: str | None = None
    passes: list[list[Edit]] = dataclasses.field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.applied > 0

    def remaining_on_original(self) -> list[Diagnostic]:
        """The remaining diagnostics at their positions in the original text (the file on disk
        when the fixes were not written). One inside text a fix inserted points at that insertion."""
        if self.original is None or not self.passes:
            return self.remaining
        fixed_lines, original_lines = LineIndex(self.text), LineIndex(self.original)

        def back(offset: int) -> tuple[int, bool]:
            inside = False
            for edits in reversed(self.passes):
                offset, moved = _offset_before(edits, offset)
                inside = inside or moved
            return offset, inside

        def location(at: Location) -> Location:
            offset, _ = back(fixed_lines.offset(at.row, at.column - 1))
            return original_lines.location(offset)

        mapped = []
        for diagnostic in self.remaining:
            start, end = location(diagnostic.start), location(diagnostic.end)
            fix = diagnostic.fix
            if fix is not None:
                spans = [(back(edit.start), back(edit.end)) for edit in fix.edits]
                if any(inside for (_, a), (_, b) in spans for inside in (a, b)):
                    fix = None  # its edits fall in text that is not on disk yet
                else:
                    fix = dataclasses.replace(
                        fix,
                        edits=tuple(
                            dataclasses.replace(
                                edit,
                                start=s,
                                end=e,
                                location=original_lines.location(s),
                                end_location=original_lines.location(e),
                            )
                            for edit, ((s, _), (e, _)) in zip(fix.edits, spans, strict=True)
                        ),
                    )
            noqa_row = None if diagnostic.noqa_row is None else start.row
            mapped.append(dataclasses.replace(diagnostic, start=start, end=end, fix=fix, noqa_row=noqa_row))
        return mapped


def _offset_before(edits: Sequence[Edit], offset: int) -> tuple[int, bool]:
    """Map an offset in the text after ``edits`` to the text before them; True when it lies in
    inserted text (it maps to the edit's start)."""
    delta = 0
    for edit in sorted(edits, key=lambda e: (e.start, e.end)):
        new_start = edit.start + delta
        if offset < new_start:
            break
        if offset < new_start + len(edit.content):
            return edit.start, True
        delta += len(edit.content) - (edit.end - edit.start)
    return offset - delta, False


def applicable(fix: Fix | None, unsafe: bool) -> bool:
    if fix is None or fix.applicability is Applicability.DISPLAY_ONLY:
        return False
    return unsafe or fix.applicability is Applicability.SAFE


def select_fixes(fixes: Sequence[Fix]) -> list[Fix]:
    """The fixes to apply together, in order of position: each that overlaps (or claims what) an
    earlier one claims is left for the next pass."""
    taken: list[Fix] = []
    for fix in sorted(fixes, key=lambda f: f.start):
        if any(edit.overlaps(other) for other_fix in taken for other in other_fix.edits for edit in fix.edits):
            continue
        taken.append(fix)
    return taken


def _edits(text: str, fixes: Sequence[Fix]) -> list[Edit]:
    """The distinct edits of fixes (two fixes inserting the same helper write it once); inserted
    line breaks take the file's own line ending."""
    newline = first_newline(text)
    edits = list(
        dict.fromkeys(
            dataclasses.replace(edit, content=LINE_BREAK.sub(newline, edit.content))
            for fix in fixes
            for edit in fix.edits
        )
    )
    if any(not 0 <= edit.start <= edit.end <= len(text) for edit in edits):
        raise FixRefused("an edit lies outside the file")
    return edits


def apply_fixes(text: str, fixes: Sequence[Fix]) -> tuple[str, int]:
    """Apply fixes in order of position, skipping any that overlap one already taken.

    Inserted line breaks take the file's own line ending; the text between edits is copied as is.
    """
    taken = select_fixes(fixes)
    return apply_edits(text, _edits(text, taken)), len(taken)


def checked_fixes(text: str, path: str, fixes: Sequence[Fix]) -> tuple[str, list[Fix], list[Edit]]:
    """Apply the fixes that together pass ``fix_checks`` (compile, bound names, blank lines): the
    new text, the fixes taken and their edits.

    Each fix the engine offers passed the checks alone; when the combination does not, the fixes
    are added one at a time, in order of position, keeping those that keep the result passing.
    """
    taken = select_fixes(fixes)
    edits = _edits(text, taken)
    new_text = apply_edits(text, edits)
    original = fix_checks.baseline(text, path)
    if fix_checks.fix_problem(original, new_text, path) is None:
        return new_text, taken, edits
    kept: list[Fix] = []
    for fix in taken:
        candidate = apply_edits(text, _edits(text, [*kept, fix]))
        if fix_checks.fix_problem(original, candidate, path) is None:
            kept.append(fix)
    edits = _edits(text, kept)
    return apply_edits(text, edits), kept, edits


class FixRefused(Exception):
    """Applying the fixes would damage the file (empty it, or edit outside the file); nothing is applied."""


def _refusal(text: str, new_text: str) -> str | None:
    """Why the fixed text must not replace the original, or None."""
    if text.strip() and not new_text.strip():
        return "would leave the file empty"
    return None


def fix_text(
    text: str,
    path: str,
    settings: Settings,
    *,
    unsafe: bool = False,
    rules: Sequence[type[Rule]] | None = None,
) -> FixResult:
    """Fix one file's text until nothing more applies (at most MAX_PASSES passes).

    Every pass's result compiles with CPython, binds every name it uses and keeps ``ruff format``'s
    blank lines (``fix_checks``); a fix that would break that is not applied and its diagnostic
    remains.
    """
    original, applied, passes = text, 0, []
    diagnostics = lint_text(text, path, settings, rules)
    for _ in range(MAX_PASSES):
        fixes = [d.fix for d in diagnostics if applicable(d.fix, unsafe)]
        if not fixes:
            break
        try:
            new_text, taken, edits = checked_fixes(text, path, fixes)
            reason = _refusal(text, new_text)
        except FixRefused as refused:
            new_text, taken, edits, reason = text, list(fixes), [], str(refused)
        if reason is None and new_text == text:
            break
        if reason is None and isinstance(parse(new_text, path), Diagnostic):
            reason = "produced code that does not parse"
        if reason is not None:
            broken = sorted({d.code for d in diagnostics if d.fix in taken})
            error = file_error(
                path,
                "internal-error",
                f"fixes for {', '.join(broken)} {reason}; nothing was applied. "
                "This is a bug in export-lint: please report it with the file that triggers it",
                internal=True,
            )
            return FixResult(text, applied, [*diagnostics, error], original, passes)
        passes.append(edits)
        text, applied = new_text, applied + len(taken)
        diagnostics = lint_text(text, path, settings, rules)
    return FixResult(text, applied, diagnostics, original, passes)


def unified_diff(before: str, after: str, path: str) -> str:
    return "".join(
        difflib.unified_diff(
            split_lines(before),
            split_lines(after),
            fromfile=f"a/{display_path(path)}",
            tofile=f"b/{display_path(path)}",
        )
    )


@dataclasses.dataclass
class FileFix:
    """The outcome of fixing one file on disk."""

    path: str
    diff: str
    applied: int
    remaining: list[Diagnostic]
    written: bool = False
    error: str | None = None


def fix_file(path: str, settings: Settings, unsafe: bool = False, write: bool = False) -> FileFix:
    """Fix one file: return its diff, and write it atomically when ``write``."""
    from export_lint.engine import decode_source, lint_source

    try:
        data = read_source_file(path, settings.max_file_size)
    except OSError as error:
        return FileFix(path, "", 0, [file_error(path, "io-error", f"cannot read file: {error.strerror or error}")])
    try:
        text, encoding = decode_source(data)
    except (SyntaxError, UnicodeDecodeError, LookupError):
        return FileFix(path, "", 0, lint_source(data, path, settings).diagnostics)
    if path.endswith(".ipynb"):
        return _fix_notebook_file(path, data, text, encoding, settings, unsafe, write)
    result = fix_text(text, path, settings, unsafe=unsafe)
    if not result.changed:
        return FileFix(path, "", 0, result.remaining)
    # Until the fixed text is written, the file on disk is the original: report positions there.
    outcome = FileFix(path, unified_diff(text, result.text, path), result.applied, result.remaining_on_original())
    if write:
        try:
            write_atomic(path, result.text, encoding, expected_hash=content_hash(data))
            outcome.written = True
            outcome.remaining = result.remaining
        except (ConcurrentModification, OSError, UnicodeEncodeError) as error:
            outcome.error = f"cannot write: {describe_write_error(error)}"
            outcome.remaining = lint_text(text, path, settings)  # nothing was fixed
    return outcome


def _fix_notebook_file(
    path: str, data: bytes, text: str, encoding: str, settings: Settings, unsafe: bool, write: bool
) -> FileFix:
    """``fix_file`` for a notebook: its cells fixed, its JSON written back around them."""
    from export_lint.notebook import fix_notebook

    fixed = fix_notebook(text, path, settings, unsafe)
    outcome = FileFix(path, fixed.diff, fixed.applied, fixed.remaining, error=fixed.error)
    if write and fixed.diff:
        try:
            write_atomic(path, fixed.text, encoding, expected_hash=content_hash(data))
            outcome.written = True
        except (ConcurrentModification, OSError, UnicodeEncodeError) as error:
            outcome.error = f"cannot write: {describe_write_error(error)}"
    return outcome


def fix_failure(path: str, reason: str) -> FileFix:
    """The outcome for a file whose worker crashed or timed out: nothing written, one internal error."""
    from export_lint.diagnostics import BUG_REPORT_HINT

    return FileFix(path, "", 0, [file_error(path, "internal-error", f"{reason}; {BUG_REPORT_HINT}", internal=True)])


fix_file.on_failure = fix_failure  # type: ignore[attr-defined]
