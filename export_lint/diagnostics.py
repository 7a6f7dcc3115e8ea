"""Diagnostics, fixes and edits: the data every stage after the rules exchanges."""

from __future__ import annotations

import bisect
import enum
from dataclasses import dataclass, field

from export_lint.source import line_starts

#: Each rule's page: ``docs/rules/EXPnnn.md`` in the repository, generated from the rule's
#: docstring by ``scripts/rule_docs.py`` (``export-lint rule EXPnnn`` prints the same text offline).
DOCS_URL = "https://github.com/export-lint/export-lint/blob/main/docs/rules/{code}.md"


class Applicability(enum.Enum):
    """How safe it is to apply a fix without a human looking at it."""

    SAFE = "safe"
    UNSAFE = "unsafe"
    DISPLAY_ONLY = "display-only"


@dataclass(frozen=True, order=True)
class Location:
    """A 1-based row and a 1-based column counted in characters, as ruff reports them."""

    row: int
    column: int


@dataclass(frozen=True)
class Edit:
    """Replace ``text[start:end]`` with ``content`` (offsets in characters)."""

    start: int
    end: int
    content: str
    #: Filled in when the edit is reported, for output formats that show rows and columns.
    location: Location | None = None
    end_location: Location | None = None
    #: What the edit writes, when two different edits must not both write it: e.g. the
    #: ``dynamic_shapes=`` keyword of one call (``RuleContext.keyword_claim``). Fixes whose edits
    #: claim the same thing differently collide even where their text ranges do not.
    claim: str | None = None

    def overlaps(self, other: Edit) -> bool:
        if self.claim is not None and self.claim == other.claim:
            return (self.start, self.end, self.content) != (other.start, other.end, other.content)
        if self.start == self.end == other.start == other.end:
            return self.content != other.content
        return self.start < other.end and other.start < self.end


@dataclass(frozen=True)
class Fix:
    """A set of edits applied together or not at all."""

    message: str
    edits: tuple[Edit, ...]
    applicability: Applicability = Applicability.SAFE

    @property
    def start(self) -> int:
        return min(edit.start for edit in self.edits)


def apply_edits(text: str, edits: tuple[Edit, ...] | list[Edit]) -> str:
    """The text with non-overlapping edits applied (identical edits once); insertions at one
    point land in the order given."""
    ordered = sorted(enumerate(dict.fromkeys(edits)), key=lambda pair: (pair[1].start, pair[1].end, pair[0]))
    pieces, done = [], 0
    for _, edit in ordered:
        pieces += [text[done : edit.start], edit.content]
        done = edit.end
    pieces.append(text[done:])
    return "".join(pieces)


@dataclass(frozen=True)
class Diagnostic:
    """One finding in one file."""

    code: str
    name: str
    message: str
    path: str
    start: Location
    end: Location
    fix: Fix | None = None
    noqa_row: int | None = None
    internal_error: bool = False
    #: In a notebook: the 1-based cell (counting every cell); ``start``/``end``/``noqa_row`` are rows of that cell.
    cell: int | None = None

    @property
    def url(self) -> str | None:
        return DOCS_URL.format(code=self.code) if not self.code.startswith("EXP000") else None

    @property
    def fixable(self) -> bool:
        return self.fix is not None and self.fix.applicability is not Applicability.DISPLAY_ONLY

    @property
    def cell_location(self) -> str:
        """``cell 3, line 4, col 21`` in a notebook (for formats whose rows are the file's), else ``""``."""
        if self.cell is None:
            return ""
        return f"cell {self.cell}, line {self.start.row}, col {self.start.column}"

    def sort_key(self) -> tuple[str, int, int, int, str]:
        return (self.path, self.cell or 0, self.start.row, self.start.column, self.code)


@dataclass
class LineIndex:
    """Converts between character offsets and 1-based rows and columns of one text.

    Lines end where Python ends them (``\\r\\n``, ``\\r``, ``\\n``), so rows match CPython's and editors'.
    """

    text: str
    line_starts: list[int] = field(init=False)

    def __post_init__(self) -> None:
        self.line_starts = line_starts(self.text)

    def location(self, offset: int) -> Location:
        row = bisect.bisect_right(self.line_starts, offset) - 1
        return Location(row + 1, offset - self.line_starts[row] + 1)

    def offset(self, row: int, column: int) -> int:
        """Offset of a 1-based row and 0-based column (libcst's convention)."""
        if row - 1 >= len(self.line_starts):
            return len(self.text)
        return self.line_starts[row - 1] + column

    def line_start(self, offset: int) -> int:
        return self.line_starts[bisect.bisect_right(self.line_starts, offset) - 1]

    def line_text(self, row: int) -> str:
        start = self.line_starts[row - 1]
        end = self.line_starts[row] if row < len(self.line_starts) else len(self.text)
        return self.text[start:end].rstrip("\r\n")


BUG_REPORT_HINT = "this is a bug in export-lint: please report it with the file that triggers it"


@dataclass
class FileResult:
    """The outcome of linting one file."""

    path: str
    diagnostics: list[Diagnostic]
    #: Source lines around each diagnostic, by 1-based row, for code frames.
    source_lines: dict[int, str] = field(default_factory=dict)
    encoding: str = "utf-8"
    #: In a notebook (where rows repeat from cell to cell): the lines around each diagnostic, by
    #: cell number, then by the cell's 1-based row; ``source_lines`` is then empty.
    cell_lines: dict[int, dict[int, str]] = field(default_factory=dict)

    def frame_lines(self, diagnostic: Diagnostic) -> dict[int, str]:
        """The lines a code frame under ``diagnostic`` shows, by row."""
        if diagnostic.cell is not None:
            return self.cell_lines.get(diagnostic.cell, {})
        return self.source_lines

    @property
    def internal_errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.internal_error]


def file_error(path: str, name: str, message: str, row: int = 1, column: int = 1, internal: bool = False) -> Diagnostic:
    location = Location(row, column)
    return Diagnostic("EXP000", name, message, path, location, location, internal_error=internal)
