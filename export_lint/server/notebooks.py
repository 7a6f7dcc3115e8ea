"""Notebook cells (LSP notebook document sync): the code cells linted together, as one file.

The cells' texts are joined in order (IPython's ``%magic`` and ``!shell`` lines turned into
comments, so that they parse and keep their columns), linted as one file named after the
notebook, and each diagnostic is handed back to the cell it starts in, in that cell's rows and
columns; a fix's edits each go to the cell they fall in (an import added to the first cell).
"""

from __future__ import annotations

import bisect
import dataclasses

from export_lint.diagnostics import Diagnostic, Edit, LineIndex
from export_lint.notebook import magic_indents


def _comment_out_ipython(text: str) -> str:
    """The cell with each IPython line (a cell magic's whole cell; a line magic, shell escape or help
    line with its ``\\``-continued lines) turned into a comment of the same length."""
    lines = text.split("\n")
    whole_cell = text.lstrip().startswith("%%")
    for number, indent in enumerate([""] * len(lines) if whole_cell else magic_indents(lines)):
        line = lines[number]
        content = len(line) - len(line.lstrip())
        if indent is not None and content < len(line):
            lines[number] = line[:content] + "#" + line[content + 1 :]
    return "\n".join(lines)


@dataclasses.dataclass(frozen=True)
class Cell:
    uri: str
    text: str


class JoinedCells:
    """The code cells of a notebook as one Python source, and the way back to each cell."""

    def __init__(self, cells: list[Cell]) -> None:
        self.cells = cells
        self.starts: list[int] = []
        parts: list[str] = []
        offset = 0
        for cell in cells:
            text = _comment_out_ipython(cell.text)
            if not text.endswith("\n"):
                text += "\n"
            self.starts.append(offset)
            parts.append(text)
            offset += len(text)
        self.text = "".join(parts)
        self._lines = LineIndex(self.text)

    def cell_of(self, offset: int) -> int:
        return max(bisect.bisect_right(self.starts, offset) - 1, 0)

    def _local(self, cell: int, offset: int) -> int:
        return min(max(offset - self.starts[cell], 0), len(self.cells[cell].text))

    def split(self, diagnostics: list[Diagnostic]) -> dict[str, list[tuple[Diagnostic, tuple[str, ...]]]]:
        """Each cell's diagnostics (every cell present), positions in the cell's own terms, with the
        cell each fix edit applies to (its offsets are in that cell's terms). A fix with an edit
        across two cells is dropped."""
        by_cell: dict[str, list[tuple[Diagnostic, tuple[str, ...]]]] = {cell.uri: [] for cell in self.cells}
        if not self.cells:
            return by_cell
        for diagnostic in diagnostics:
            start = self._lines.offset(diagnostic.start.row, diagnostic.start.column - 1)
            end = max(self._lines.offset(diagnostic.end.row, diagnostic.end.column - 1), start)
            index = self.cell_of(start)
            cell = self.cells[index]
            lines = LineIndex(cell.text)
            local_start, local_end = self._local(index, start), self._local(index, end)
            fix = diagnostic.fix
            targets: list[str] = []
            if fix is not None:
                edits: list[Edit] | None = []
                for edit in fix.edits:
                    home = self.cell_of(edit.start)
                    if self.cell_of(max(edit.end - 1, edit.start)) != home:
                        edits = None
                        break
                    edits.append(Edit(self._local(home, edit.start), self._local(home, edit.end), edit.content))
                    targets.append(self.cells[home].uri)
                fix = dataclasses.replace(fix, edits=tuple(edits)) if edits else None
            start_location = lines.location(local_start)
            local = dataclasses.replace(
                diagnostic,
                start=start_location,
                end=lines.location(local_end),
                fix=fix,
                noqa_row=start_location.row if diagnostic.noqa_row is not None else None,
            )
            by_cell[cell.uri].append((local, tuple(targets) if fix is not None else ()))
        return by_cell
