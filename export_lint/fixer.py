"""Apply fixes: non-overlapping edits, re-lint to a fixpoint, write atomically."""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import os
import tempfile
from collections.abc import Sequence

from export_lint.config import Settings
from export_lint.diagnostics import Applicability, Diagnostic, Fix
from export_lint.engine import file_error, lint_text, parse
from export_lint.rule import Rule
from export_lint.source import LINE_BREAK, first_newline, read_source_file, split_lines

MAX_PASSES = 10


@dataclasses.dataclass
class FixResult:
    """The fixed text, how many fixes were applied, and what remains."""

    text: str
    applied: int
    remaining: list[Diagnostic]

    @property
    def changed(self) -> bool:
        return self.applied > 0


def applicable(fix: Fix | None, unsafe: bool) -> bool:
    if fix is None or fix.applicability is Applicability.DISPLAY_ONLY:
        return False
    return unsafe or fix.applicability is Applicability.SAFE


def apply_fixes(text: str, fixes: Sequence[Fix]) -> tuple[str, int]:
    """Apply fixes in order of position, skipping any that overlap one already taken.

    Inserted line breaks take the file's own line ending; the text between edits is copied as is.
    """
    taken: list[Fix] = []
    for fix in sorted(fixes, key=lambda f: f.start):
        if any(edit.overlaps(other) for other_fix in taken for other in other_fix.edits for edit in fix.edits):
            continue
        taken.append(fix)
    newline = first_newline(text)
    edits = sorted({edit for fix in taken for edit in fix.edits}, key=lambda e: (e.start, e.end))
    if any(not 0 <= edit.start <= edit.end <= len(text) for edit in edits):
        raise FixRefused("an edit lies outside the file")
    pieces, done = [], 0
    for edit in edits:
        pieces += [text[done : edit.start], LINE_BREAK.sub(newline, edit.content)]
        done = edit.end
    pieces.append(text[done:])
    return "".join(pieces), len(taken)


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
    """Fix one file's text until nothing more applies (at most MAX_PASSES passes)."""
    applied = 0
    diagnostics = lint_text(text, path, settings, rules)
    for _ in range(MAX_PASSES):
        fixes = [d.fix for d in diagnostics if applicable(d.fix, unsafe)]
        if not fixes:
            break
        broken = sorted({d.code for d in diagnostics if d.fix in fixes})
        try:
            new_text, count = apply_fixes(text, fixes)
            reason = _refusal(text, new_text)
        except FixRefused as refused:
            new_text, count, reason = text, 0, str(refused)
        if reason is None and new_text == text:
            break
        if reason is None and isinstance(parse(new_text, path), Diagnostic):
            reason = "produced code that does not parse"
        if reason is not None:
            error = file_error(
                path,
                "internal-error",
                f"fixes for {', '.join(broken)} {reason}; nothing was applied. "
                "This is a bug in export-lint: please report it with the file that triggers it",
                internal=True,
            )
            return FixResult(text, applied, [*diagnostics, error])
        text, applied = new_text, applied + count
        diagnostics = lint_text(text, path, settings, rules)
    return FixResult(text, applied, diagnostics)


def unified_diff(before: str, after: str, path: str) -> str:
    return "".join(
        difflib.unified_diff(
            split_lines(before),
            split_lines(after),
            fromfile=f"a/{path}",
            tofile=f"b/{path}",
        )
    )


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ConcurrentModification(Exception):
    """The file changed between reading and writing; it was left alone."""


def write_atomic(path: str, text: str, encoding: str, expected_hash: str | None = None) -> None:
    """Write through a temporary file in the same folder, fsync, then rename over the original.

    Keeps permissions; ``encoding`` keeps the BOM (``utf-8-sig``) and codecs; line endings are the
    text's own. With ``expected_hash``, a file whose bytes changed since they were read is not touched.
    """
    if expected_hash is not None:
        with open(path, "rb") as handle:
            if content_hash(handle.read()) != expected_hash:
                raise ConcurrentModification(path)
    data = text.encode(encoding)
    folder = os.path.dirname(os.path.abspath(path))
    mode = os.stat(path).st_mode & 0o7777
    descriptor, temporary = tempfile.mkstemp(dir=folder, prefix=".export-lint-", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


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
        data = read_source_file(path)
    except OSError as error:
        return FileFix(path, "", 0, [file_error(path, "io-error", f"cannot read file: {error.strerror or error}")])
    try:
        text, encoding = decode_source(data)
    except (SyntaxError, UnicodeDecodeError, LookupError):
        return FileFix(path, "", 0, lint_source(data, path, settings).diagnostics)
    result = fix_text(text, path, settings, unsafe=unsafe)
    if not result.changed:
        return FileFix(path, "", 0, result.remaining)
    outcome = FileFix(path, unified_diff(text, result.text, path), result.applied, result.remaining)
    if write:
        try:
            write_atomic(path, result.text, encoding, expected_hash=content_hash(data))
            outcome.written = True
        except ConcurrentModification:
            outcome.error = "changed on disk while export-lint was fixing it; left untouched"
        except OSError as error:
            outcome.error = f"cannot write: {error.strerror or error}"
    return outcome


def fix_failure(path: str, reason: str) -> FileFix:
    """The outcome for a file whose worker crashed or timed out: nothing written, one internal error."""
    from export_lint.diagnostics import BUG_REPORT_HINT

    return FileFix(path, "", 0, [file_error(path, "internal-error", f"{reason}; {BUG_REPORT_HINT}", internal=True)])


fix_file.on_failure = fix_failure  # type: ignore[attr-defined]
