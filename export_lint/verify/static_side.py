"""What ``export-lint check`` says about the files a runtime check touched (no torch needed)."""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from export_lint.verify.locate import is_framework


def model_files(model: Any, extra: Iterable[str] = ()) -> list[str]:
    """Source files of the model's module classes (and their bases) outside torch, plus ``extra``."""
    files: dict[str, None] = {}
    for path in extra:
        if path and not is_framework(path):
            files[os.path.abspath(path)] = None
    modules = model.modules() if hasattr(model, "modules") else [model]
    for module in modules:
        for cls in type(module).__mro__:
            try:
                path = inspect.getsourcefile(cls)
            except TypeError:
                continue
            if path and not is_framework(path):
                files[os.path.abspath(path)] = None
    return list(files)


def static_findings(paths: Sequence[str], select: Sequence[str] | None = None) -> dict[str, list[dict]]:
    """{path: [{code, name, row, column, message}]}: check's diagnostics (nearest config, or ``select``)."""
    from export_lint.config import load_settings
    from export_lint.runner import lint_file

    found: dict[str, list[dict]] = {}
    for path in dict.fromkeys(paths):
        if not os.path.isfile(path):
            continue
        overrides = {"select": tuple(select)} if select else None
        try:
            settings = load_settings(Path(path), overrides=overrides)
        except Exception:  # a broken config must not hide the runtime findings
            continue
        result = lint_file(path, settings)
        found[path] = [
            {"code": d.code, "name": d.name, "row": d.start.row, "column": d.start.column, "message": d.message}
            for d in result.diagnostics
            if not d.code.startswith("EXP000") and d.code != "EXP900"
        ]
    return found


def watched_lines(static: dict[str, list[dict]]) -> dict[str, set[int]]:
    """The lines to watch during the trace: those with a static finding."""
    return {path: {item["row"] for item in items} for path, items in static.items() if items}
