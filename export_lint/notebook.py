"""Jupyter notebooks, linted and fixed cell by cell as ruff does.

The code cells are joined into one Python text (so an import in cell 1 serves a call in cell 5),
each preceded by a marker comment that tells the cells apart again after fixes. IPython syntax is
masked: a cell that starts with a cell magic (``%%bash``) is left out, and a line magic, shell
escape or help line (``%time``, ``!pip install``, ``x = !ls``, ``obj?``) becomes a ``pass`` that
remembers the original line. Diagnostics are reported per cell (``nb.ipynb:cell 3:4:1``: the third
cell of the notebook, counting every cell). Fixes are written back into the cells' ``source`` only:
key order, indentation, outputs and metadata stay as they were. nbformat reads and validates.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import re

from export_lint.config import Settings
from export_lint.diagnostics import Diagnostic, FileResult, Location, file_error

SUFFIX = ".ipynb"
_CELL_MARKER = "# export-lint-cell: {number}"
_CELL_MARKER_LINE = re.compile(r"^# export-lint-cell: (\d+)$")
_MAGIC_PLACEHOLDER = re.compile(r"^([ \t]*)pass  # export-lint-magic: (\d+)$")
#: ``x = !ls``, ``a, b = %sx ls``: targets separated by commas only, so no two quantifiers share a character.
_ASSIGNED_MAGIC = re.compile(r"^[ \t]*[\w.\[\]'\"]+(?:,[ \t]*[\w.\[\]'\"]+)*[ \t]*=[ \t]*[!%]")


def is_notebook(path: str) -> bool:
    return path.endswith(SUFFIX)


@dataclasses.dataclass(frozen=True)
class _Cell:
    number: int  # 1-based, among every cell of the notebook
    index: int  # 0-based position in the notebook's cells
    first_row: int  # row of the cell's first line in the joined text
    rows: int
    source: str
    ends_with_newline: bool


@dataclasses.dataclass
class Notebook:
    """A notebook as one Python text, and what maps it back to cells."""

    text: str
    cells: list[_Cell]
    magics: list[str]  # original lines masked by placeholders, by index
    raw: dict
    raw_text: str

    def cell_at(self, row: int) -> _Cell | None:
        found = None
        for cell in self.cells:
            if cell.first_row <= row:
                found = cell
        return found


class NotebookError(Exception):
    """Not a notebook export-lint can read."""


def _nbformat():
    try:
        import nbformat
    except ImportError as error:  # pragma: no cover - a dependency; only a broken install lacks it
        raise NotebookError("nbformat is not installed (pip install nbformat)") from error
    return nbformat


def _is_magic(line: str) -> bool:
    stripped = line.strip()
    if not stripped or stripped.startswith("#"):
        return False
    return stripped.startswith(("%", "!")) or stripped.endswith("?") or _ASSIGNED_MAGIC.match(line) is not None


def magic_indents(lines: list[str]) -> list[str | None]:
    """Per line of a code cell: the indent of the IPython line it belongs to (a line magic, shell
    escape or help line, with the lines it continues onto with a trailing ``\\``, as IPython joins
    them), or None for a Python line."""
    indents: list[str | None] = []
    continued: str | None = None
    for line in lines:
        indent = continued
        if indent is None and _is_magic(line):
            indent = line[: len(line) - len(line.lstrip())]
        indents.append(indent)
        continued = indent if indent is not None and line.rstrip().endswith("\\") else None
    return indents


def _mask_future_imports(lines: list[str], masked: list[str | None]) -> list[str | None]:
    """``masked`` with the ``from __future__ import x`` lines that open a later cell masked too:
    valid there (IPython compiles each cell on its own), a SyntaxError once the cells are joined."""
    found = list(masked)
    for position, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or found[position] is not None:
            continue
        if not stripped.startswith("from __future__ import ") or stripped.endswith(("\\", "(")):
            break
        found[position] = ""
    return found


def _as_version_4(raw: object) -> object:
    """``raw`` with ``nbformat: 4`` added when it lacks a version but has version-4 cells."""
    if not isinstance(raw, dict) or "nbformat" in raw:
        return raw
    cells = raw.get("cells")
    if not isinstance(cells, list) or not all(isinstance(c, dict) and "cell_type" in c for c in cells):
        return raw
    return {**raw, "nbformat": 4, "nbformat_minor": raw.get("nbformat_minor", 0)}


def read_notebook(text: str) -> Notebook:
    """The joined Python text of a notebook's code cells. Raises NotebookError."""
    nbformat = _nbformat()
    try:
        raw = json.loads(text)
        # Some editors save notebooks without the ``nbformat`` field (torchrec's plots); with
        # version-4 cells (a list of dicts with a ``cell_type``) they are read as version 4.
        versioned = _as_version_4(raw)
        source = text if versioned is raw else json.dumps(versioned)
        parsed = nbformat.reads(source, as_version=nbformat.NO_CONVERT)
    except Exception as error:  # nbformat raises several types on bad notebooks
        raise NotebookError(f"not a readable notebook: {error}") from error
    if not isinstance(raw, dict) or versioned.get("nbformat") != 4 or not isinstance(raw.get("cells"), list):
        raise NotebookError("only nbformat 4 notebooks are supported")
    language = parsed.get("metadata", {}).get("language_info", {}).get("name", "python")
    lines: list[str] = []
    cells: list[_Cell] = []
    magics: list[str] = []
    if language != "python":
        return Notebook("", [], [], raw, text)
    for index, cell in enumerate(parsed.cells):
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        if source.lstrip().startswith("%%"):
            continue  # a cell magic: not Python
        lines.append(_CELL_MARKER.format(number=index + 1))
        first_row = len(lines) + 1
        cell_lines = source.split("\n")
        ends_with_newline = source.endswith("\n")
        if ends_with_newline:
            cell_lines.pop()
        masked = magic_indents(cell_lines)
        if cells:  # not the first code cell: IPython compiles each cell alone
            masked = _mask_future_imports(cell_lines, masked)
        for line, magic_indent in zip(cell_lines, masked, strict=True):
            if magic_indent is not None:
                lines.append(f"{magic_indent}pass  # export-lint-magic: {len(magics)}")
                magics.append(line)
            else:
                lines.append(line)
        cells.append(_Cell(index + 1, index, first_row, len(cell_lines), source, ends_with_newline))
    return Notebook("\n".join(lines) + "\n" if lines else "", cells, magics, raw, text)


def _to_cell(d: Diagnostic, notebook: Notebook) -> Diagnostic:
    cell = notebook.cell_at(d.start.row)
    if cell is None:
        return d
    start = Location(max(d.start.row - cell.first_row + 1, 1), d.start.column)
    end_row = min(max(d.end.row - cell.first_row + 1, 1), max(cell.rows, 1))
    end = Location(end_row, d.end.column) if d.end.row >= d.start.row else start
    noqa_row = d.noqa_row - cell.first_row + 1 if d.noqa_row is not None else None
    fix = d.fix
    if fix is not None:  # its edits' rows are the joined text's: not shown
        edits = tuple(dataclasses.replace(edit, location=None, end_location=None) for edit in fix.edits)
        fix = dataclasses.replace(fix, edits=edits)
    return dataclasses.replace(d, start=start, end=max(start, end), cell=cell.number, noqa_row=noqa_row, fix=fix)


def lint_notebook(text: str, path: str, settings: Settings, rules=None) -> FileResult:
    """Diagnostics of a notebook, with cell-relative positions."""
    from export_lint.engine import lint_text

    try:
        notebook = read_notebook(text)
    except NotebookError as error:
        return FileResult(path, [file_error(path, "syntax-error", f"cannot read notebook: {error}")])
    if not notebook.text:
        return FileResult(path, [])
    diagnostics = [_to_cell(d, notebook) for d in lint_text(notebook.text, path, settings, rules)]
    return FileResult(path, diagnostics, cell_lines=_cell_lines(notebook, diagnostics))


def _cell_lines(notebook: Notebook, diagnostics: list[Diagnostic]) -> dict[int, dict[int, str]]:
    """Each flagged cell's lines around its diagnostics (the cell's own text: magics as written)."""
    from export_lint.engine import source_lines_for

    by_number = {cell.number: cell for cell in notebook.cells}
    lines: dict[int, dict[int, str]] = {}
    for d in diagnostics:
        cell = by_number.get(d.cell) if d.cell is not None else None
        if cell is not None:
            lines.setdefault(cell.number, {}).update(source_lines_for(cell.source, [d]))
    return lines


def _cell_sources(notebook: Notebook, fixed: str) -> dict[int, str] | None:
    """Cell index -> new source, from the fixed joined text; None when the cells cannot be told
    apart again (a marker moved or vanished) or a masked line was touched."""
    sources: dict[int, list[str]] = {}
    current: list[str] | None = None
    order: list[int] = []
    restored = 0
    for line in fixed.split("\n"):
        marker = _CELL_MARKER_LINE.match(line)
        if marker:
            number = int(marker.group(1))
            current = sources.setdefault(number, [])
            order.append(number)
            continue
        if current is None:
            if line.strip():
                return None  # code inserted above the first cell's marker
            continue
        placeholder = _MAGIC_PLACEHOLDER.match(line)
        if placeholder:
            line = notebook.magics[int(placeholder.group(2))]
            restored += 1
        current.append(line)
    if order != [cell.number for cell in notebook.cells] or restored != len(notebook.magics):
        return None
    result = {}
    for cell in notebook.cells:
        lines = sources[cell.number]
        while lines and lines[-1] == "" and len(lines) > cell.rows:
            lines.pop()  # the joined text's final newline
        text = "\n".join(lines)
        result[cell.index] = text + "\n" if cell.ends_with_newline else text
    return result


def _indent(raw_text: str) -> int | None:
    match = re.search(r"\{\n( +)\"", raw_text)
    return len(match.group(1)) if match else None


def notebook_with_sources(notebook: Notebook, sources: dict[int, str]) -> str:
    """The notebook's JSON with new cell sources: key order, indentation, outputs kept."""
    raw = json.loads(notebook.raw_text)
    for index, source in sources.items():
        cell = raw["cells"][index]
        if isinstance(cell.get("source"), list):
            cell["source"] = source.splitlines(keepends=True)
        else:
            cell["source"] = source
    text = json.dumps(raw, indent=_indent(notebook.raw_text), ensure_ascii=False)
    return text + "\n" if notebook.raw_text.endswith("\n") else text


def add_noqa_to_cells(text: str, codes_by_cell: dict[int, dict[int, list[str]]]) -> tuple[str, int]:
    """``check --add-noqa`` on a notebook: ``# noqa: CODE`` on each (cell number, cell row), in the
    cells' own sources (IPython lines never get one). The new JSON and the number of lines changed.
    Raises NotebookError when the notebook cannot be read or the result does not validate."""
    from export_lint.suppression import add_noqa

    notebook = read_notebook(text)
    changed: dict[int, str] = {}
    count = 0
    for cell in notebook.cells:
        wanted = codes_by_cell.get(cell.number)
        if not wanted:
            continue
        ipython = magic_indents(cell.source.split("\n"))
        rows = {row: codes for row, codes in wanted.items() if row <= len(ipython) and ipython[row - 1] is None}
        source, added = add_noqa(cell.source, rows)
        if added:
            changed[cell.index] = source
            count += added
    if not changed:
        return text, 0
    new_text = notebook_with_sources(notebook, changed)
    nbformat = _nbformat()
    try:
        nbformat.validate(nbformat.reads(new_text, as_version=nbformat.NO_CONVERT))
    except Exception as error:  # nbformat raises several types
        raise NotebookError(f"the notebook with noqa comments does not validate: {error}") from error
    return new_text, count


@dataclasses.dataclass
class NotebookFix:
    text: str  # the new notebook JSON (the original when nothing changed)
    diff: str
    applied: int
    remaining: list[Diagnostic]
    error: str | None = None


def fix_notebook(text: str, path: str, settings: Settings, unsafe: bool = False) -> NotebookFix:
    """Fix a notebook's cells; the JSON text to write, the per-cell diff, what remains."""
    from export_lint.fixer import fix_text

    try:
        notebook = read_notebook(text)
    except NotebookError as error:
        return NotebookFix(text, "", 0, [file_error(path, "syntax-error", f"cannot read notebook: {error}")])
    if not notebook.text:
        return NotebookFix(text, "", 0, [])
    result = fix_text(notebook.text, path, settings, unsafe=unsafe)
    remaining = [_to_cell(d, notebook) for d in result.remaining]
    if not result.changed:
        return NotebookFix(text, "", 0, remaining)
    sources = _cell_sources(notebook, result.text)
    if sources is None:
        error = "the fixes moved code across cells or into a magic line; nothing was applied"
        original = [_to_cell(d, notebook) for d in _lint_joined(notebook, path, settings)]
        return NotebookFix(text, "", 0, original, error)
    cells = notebook.raw["cells"]
    changed = {i: s for i, s in sources.items() if s != _joined_source(cells[i].get("source", ""))}
    new_text = notebook_with_sources(notebook, changed)
    nbformat = _nbformat()
    try:
        nbformat.validate(nbformat.reads(new_text, as_version=nbformat.NO_CONVERT))
    except Exception as error:
        return NotebookFix(text, "", 0, remaining, f"the fixed notebook does not validate: {error}")
    diff = "".join(
        "".join(
            difflib.unified_diff(
                _diff_lines(_joined_source(cells[index].get("source", ""))),
                _diff_lines(source),
                fromfile=f"a/{path}:cell {index + 1}",
                tofile=f"b/{path}:cell {index + 1}",
            )
        )
        for index, source in sorted(changed.items())
    )
    # The remaining diagnostics are those of the fixed notebook (cell rows of the fixed cells).
    fixed_notebook = read_notebook(new_text)
    remaining = [_to_cell(d, fixed_notebook) for d in result.remaining]
    return NotebookFix(new_text, diff, result.applied, remaining)


def _diff_lines(source: str) -> list[str]:
    """A cell's lines for a diff, the last one ended too (a cell's source has no final newline)."""
    return (source if source.endswith("\n") or not source else source + "\n").splitlines(keepends=True)


def _joined_source(source: str | list[str]) -> str:
    return "".join(source) if isinstance(source, list) else source


def _lint_joined(notebook: Notebook, path: str, settings: Settings) -> list[Diagnostic]:
    from export_lint.engine import lint_text

    return lint_text(notebook.text, path, settings)
