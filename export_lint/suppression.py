"""``# noqa`` comments: line-level (``# noqa``, ``# noqa: EXP001``) and file-level (``# export-lint: noqa``).

Also ``add_noqa``: the edit ``export-lint check --add-noqa`` makes to silence what is reported today.
"""

from __future__ import annotations

import dataclasses
import io
import re
import tokenize
from collections.abc import Iterable

from export_lint.source import line_starts

# Split so that ruff's own noqa parser never reads this line as a directive.
_NOQA = re.compile(r"#\s*no" r"qa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*))?", re.IGNORECASE)
_FILE_NOQA = re.compile(r"#\s*export-lint\s*:\s*noqa(?![\w-])", re.IGNORECASE)
# The lookbehind starts a code only where a run of letters starts: linear, not quadratic, on long runs.
_CODE = re.compile(r"(?<![A-Z])[A-Z]+[0-9]+", re.IGNORECASE)


@dataclasses.dataclass(frozen=True)
class NoqaDirective:
    row: int
    #: The codes named, or None for a bare noqa comment, which suppresses everything on the line.
    codes: frozenset[str] | None
    #: Offsets of the directive (the noqa marker and its codes) in the file (for tools that edit noqa comments).
    start: int
    end: int
    #: The codes in the order written, with the offsets of the codes list and of the whole comment.
    code_list: tuple[str, ...] = ()
    codes_start: int = -1
    codes_end: int = -1
    comment_start: int = -1
    comment_end: int = -1

    def suppresses(self, code: str) -> bool:
        return self.codes is None or code in self.codes


@dataclasses.dataclass(frozen=True)
class Suppressions:
    file_exempt: bool
    by_row: dict[int, NoqaDirective]

    def suppresses(self, code: str, row: int | None) -> bool:
        if self.file_exempt:
            return True
        directive = self.by_row.get(row) if row is not None else None
        return directive is not None and directive.suppresses(code)


NONE = Suppressions(False, {})


@dataclasses.dataclass(frozen=True)
class _Comment:
    row: int
    start: int
    end: int
    text: str


def _line_offsets(text: str) -> list[int]:
    """Where each line starts, and the text's end: Python's line splitting, not ``str.splitlines``."""
    return [*line_starts(text), len(text)] if text and not text.endswith(("\n", "\r")) else line_starts(text)


def _lines(text: str) -> io.StringIO:
    """The text to tokenize: a lone ``\\r`` ends a line for Python, not for ``StringIO``'s readline."""
    return io.StringIO(text, newline=None)


def _comments(text: str) -> list[_Comment]:
    """Each comment with its offsets, found with the tokenizer so that strings never match."""
    offsets = _line_offsets(text)
    found = []
    try:
        for token in tokenize.generate_tokens(_lines(text).readline):
            if token.type == tokenize.COMMENT:
                row, column = token.start
                start = offsets[row - 1] + column
                found.append(_Comment(row, start, start + len(token.string), token.string))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        pass
    return found


def parse_suppressions(text: str) -> Suppressions:
    """The noqa directives of a file; cheap when the file has none."""
    if "noqa" not in text and "NOQA" not in text:
        return NONE
    file_exempt = False
    by_row: dict[int, NoqaDirective] = {}
    for comment in _comments(text):
        if _FILE_NOQA.search(comment.text):
            file_exempt = True
            continue
        match = _NOQA.search(comment.text)
        if match is None:
            continue
        codes = match.group("codes")
        code_list = tuple(code.upper() for code in _CODE.findall(codes)) if codes else ()
        base = comment.start
        by_row[comment.row] = NoqaDirective(
            row=comment.row,
            codes=frozenset(code_list) if codes else None,
            start=base + match.start(),
            end=base + match.end(),
            code_list=code_list,
            codes_start=base + match.start("codes") if codes else -1,
            codes_end=base + match.end("codes") if codes else -1,
            comment_start=comment.start,
            comment_end=comment.end,
        )
    return Suppressions(file_exempt, by_row)


def _rows_inside_strings(text: str) -> set[int]:
    """Rows whose end lies inside a multi-line string: a comment appended there would change the string."""
    rows: set[int] = set()
    try:
        for token in tokenize.generate_tokens(_lines(text).readline):
            if token.type == tokenize.STRING and token.end[0] > token.start[0]:
                rows.update(range(token.start[0], token.end[0]))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        pass
    return rows


def add_noqa(text: str, codes_by_row: dict[int, Iterable[str]]) -> tuple[str, int]:
    """Add ``# noqa: CODE`` for each code on its row, merging into existing noqa comments.

    An existing ``# noqa: E501`` becomes ``# noqa: E501, EXP001``; a line without one gets
    ``  # noqa: EXP001`` after its code (and after any other comment). Returns the new text and the
    number of lines changed. Rows whose line ends inside a multi-line string or with a backslash
    continuation are left alone.
    """
    suppressions = parse_suppressions(text)
    offsets = _line_offsets(text)
    inside_strings = _rows_inside_strings(text) if codes_by_row else set()
    edits: list[tuple[int, int, str]] = []
    for row, codes in sorted(codes_by_row.items()):
        if row > len(offsets) - 1 or row in inside_strings:
            continue
        directive = suppressions.by_row.get(row)
        if directive is not None and directive.codes is None:
            continue  # a bare noqa already silences the whole line
        existing = set(directive.code_list) if directive is not None else set()
        missing = [code for code in dict.fromkeys(codes) if code not in existing]
        if not missing:
            continue
        if directive is not None:
            edits.append((directive.codes_end, directive.codes_end, ", " + ", ".join(missing)))
            continue
        line = text[offsets[row - 1] : offsets[row]]
        if line.rstrip().endswith("\\"):
            continue  # a comment after a line continuation is a syntax error
        content_end = offsets[row - 1] + len(line.rstrip("\r\n"))
        stripped_end = offsets[row - 1] + len(line.rstrip("\r\n").rstrip())
        edits.append((stripped_end, content_end, "  # noqa: " + ", ".join(missing)))
    for start, end, content in sorted(edits, reverse=True):
        text = text[:start] + content + text[end:]
    return text, len(edits)
