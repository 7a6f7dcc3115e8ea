"""GitHub Actions workflow commands: annotations shown on the pull request's diff.

One line per diagnostic, exactly
``::error title=export-lint (EXP001),file=PATH,line=R,col=C,endLine=R,endColumn=C::MESSAGE``
(rows and columns 1-based; ``%``, CR, LF escaped everywhere, ``:`` and ``,`` in properties).
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
            lines.append(
                f"::error title={_escape_property(f'export-lint ({d.code})')},file={_escape_property(d.path)},"
                f"line={d.start.row},col={d.start.column},endLine={d.end.row},endColumn={d.end.column}"
                f"::{_escape_data(d.message)}"
            )
    return "".join(line + "\n" for line in lines)
