"""GitHub Actions workflow commands: annotations shown on the pull request's diff.

One line per diagnostic, exactly
``::error title=export-lint (EXP001),file=PATH,line=R,col=C,endLine=R,endColumn=C::MESSAGE``
(rows and columns 1-based; ``%``, CR, LF escaped everywhere, ``:`` and ``,`` in properties).
In a notebook the rows are a cell's, not the file's: as ruff does, the annotation sits on line 1
and the message starts with the cell and its row and column.
"""

from __future__ import annotations

from collections.abc import Sequence

from export_lint.diagnostics import FileResult


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render(results: Sequence[FileResult], **_: object) -> str:
    lines = []
    for result in results:
        for d in result.diagnostics:
            if d.cell is None:
                span = f"line={d.start.row},col={d.start.column},endLine={d.end.row},endColumn={d.end.column}"
                message = d.message
            else:
                span, message = "line=1,col=1,endLine=1,endColumn=1", f"{d.cell_location}: {d.message}"
            lines.append(
                f"::error title={_escape_property(f'export-lint ({d.code})')},file={_escape_property(d.path)},"
                f"{span}::{_escape_data(message)}"
            )
    return "".join(line + "\n" for line in lines)
