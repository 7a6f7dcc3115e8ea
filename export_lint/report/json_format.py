"""ruff-compatible JSON (a list) and JSON Lines (one object a line)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from export_lint.diagnostics import Diagnostic, FileResult, Location


def _location(location: Location | None) -> dict[str, int] | None:
    return None if location is None else {"row": location.row, "column": location.column}


def diagnostic_dict(diagnostic: Diagnostic) -> dict[str, object]:
    fix = diagnostic.fix
    return {
        "cell": diagnostic.cell,  # as ruff's: the notebook cell, else null
        "code": diagnostic.code,
        "name": diagnostic.name,
        "message": diagnostic.message,
        "filename": diagnostic.path,
        "location": _location(diagnostic.start),
        "end_location": _location(diagnostic.end),
        "noqa_row": diagnostic.noqa_row,
        "url": diagnostic.url,
        "fix": None
        if fix is None
        else {
            "applicability": fix.applicability.value,
            "message": fix.message,
            "edits": [
                {
                    "content": edit.content,
                    "location": _location(edit.location),
                    "end_location": _location(edit.end_location),
                }
                for edit in fix.edits
            ],
        },
    }


def render(results: Sequence[FileResult], output_format: str = "json", **_: object) -> str:
    items = [diagnostic_dict(d) for result in results for d in result.diagnostics]
    if output_format == "json-lines":
        return "".join(json.dumps(item) + "\n" for item in items)
    return json.dumps(items, indent=2) + "\n"
