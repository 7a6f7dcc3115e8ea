"""Output formats. Each module renders a list of FileResults to text; ``render`` picks one."""

from __future__ import annotations

import importlib
from collections.abc import Sequence

from export_lint.diagnostics import FileResult

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
    module = importlib.import_module(f"{__name__}.{FORMATS[output_format]}")
    return module.render(results, output_format=output_format, **options)
