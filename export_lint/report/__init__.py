"""Output formats. Each module renders a list of FileResults to text; ``render`` picks one."""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Sequence

from export_lint.diagnostics import FileResult
from export_lint.display import display_path

FORMATS = {
    "full": "text",
    "concise": "text",
    "json": "json_format",
    "json-lines": "json_format",
    "sarif": "sarif",
    "github": "github",
    "junit": "junit",
}


def render(output_format: str, results: Sequence[FileResult], **options: object) -> str:
    """The report; file names are shown escaped (``display_path``), except as SARIF's percent-encoded URIs."""
    module = importlib.import_module(f"{__name__}.{FORMATS[output_format]}")
    if output_format != "sarif":
        results = [_displayed(result) for result in results]
    return module.render(results, output_format=output_format, **options)


def _displayed(result: FileResult) -> FileResult:
    if all(display_path(d.path) == d.path for d in result.diagnostics) and display_path(result.path) == result.path:
        return result
    diagnostics = [dataclasses.replace(d, path=display_path(d.path)) for d in result.diagnostics]
    return dataclasses.replace(result, path=display_path(result.path), diagnostics=diagnostics)
