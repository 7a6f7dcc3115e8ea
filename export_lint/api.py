"""The Python API: the same diagnostics and fixes the CLI produces, for notebooks and other tools."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from export_lint.config import Settings, load_settings
from export_lint.diagnostics import Diagnostic
from export_lint.discovery import discover
from export_lint.engine import FileResult
from export_lint.engine import lint_source as _lint_source
from export_lint.fixer import FixResult, fix_text
from export_lint.runner import lint_files


def lint_source(source: str | bytes, path: str = "<stdin>", settings: Settings | None = None) -> list[Diagnostic]:
    """Diagnostics for one file's source, as ``export-lint check`` reports them."""
    return _lint_source(source, path, settings).diagnostics


def lint_paths(paths: Sequence[str | Path], settings: Settings | None = None) -> list[FileResult]:
    """Lint files and folders (config from the nearest pyproject.toml unless ``settings`` is given)."""
    names = [str(path) for path in paths]
    settings = settings or load_settings(Path(names[0]) if names else None)
    return lint_files(discover(names, settings).files, settings)


def fix_source(
    source: str, path: str = "<stdin>", settings: Settings | None = None, *, unsafe: bool = False
) -> FixResult:
    """Apply every applicable fix to one file's text; ``.text`` is the result, ``.remaining`` what is left."""
    return fix_text(source, path, settings or Settings(), unsafe=unsafe)
