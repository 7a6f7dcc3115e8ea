"""``# noqa`` comments: line-level (``# noqa``, ``# noqa: EXP001``) and file-level (``# export-lint: noqa``)."""

from __future__ import annotations

import dataclasses
import io
import re
import tokenize

_NOQA = re.compile(r"#\s*no" r"qa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*))?", re.IGNORECASE)
_FILE_NOQA = re.compile(r"#\s*export-lint\s*:\s*noqa\b", re.IGNORECASE)


@dataclasses.dataclass(frozen=True)
class NoqaDirective:
    row: int
    #: The codes named, or None for a bare noqa comment, which suppresses everything on the line.
    codes: frozenset[str] | None
    #: Offsets of the comment in the file (for tools that edit noqa comments).
    start: int
    end: int

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


def _comments(text: str) -> list[tuple[int, int, str]]:
    """(row, offset, text) of each comment, found with the tokenizer so strings never match."""
    line_offsets = [0]
    for line in text.splitlines(keepends=True):
        line_offsets.append(line_offsets[-1] + len(line))
    found = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type == tokenize.COMMENT:
                row, column = token.start
                found.append((row, line_offsets[row - 1] + column, token.string))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        pass
    return found


def parse_suppressions(text: str) -> Suppressions:
    """The noqa directives of a file; cheap when the file has none."""
    if "noqa" not in text and "NOQA" not in text:
        return NONE
    file_exempt = False
    by_row: dict[int, NoqaDirective] = {}
    for row, offset, comment in _comments(text):
        if _FILE_NOQA.search(comment):
            file_exempt = True
            continue
        match = _NOQA.search(comment)
        if match is None:
            continue
        codes = match.group("codes")
        parsed = frozenset(re.split(r"[\s,]+", codes.strip().upper())) if codes else None
        by_row[row] = NoqaDirective(row, parsed, offset + match.start(), offset + match.end())
    return Suppressions(file_exempt, by_row)
