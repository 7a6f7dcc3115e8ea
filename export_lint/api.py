"""The Python API: the same diagnostics and fixes ``export-lint check`` / ``fix`` produce, for notebooks and tools.

>>> from export_lint import lint_source, fix_source
>>> [d.code for d in lint_source("import torch\\ntorch.export.export(lambda x: x, (1,))\\n")]
['EXP001']

Nothing here imports torch. Without ``settings``, ``lint_paths`` reads ``[tool.export-lint]`` from
each file's nearest pyproject.toml (as the CLI does); ``lint_source`` and ``fix_source`` use the defaults.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from export_lint.config import Settings, SettingsResolver, load_settings
from export_lint.diagnostics import Diagnostic, file_error
from export_lint.discovery import discover
from export_lint.engine import lint_source as _lint_source
from export_lint.fixer import FixResult, fix_text
from export_lint.runner import lint_files

__all__ = ["Diagnostic", "FixResult", "Settings", "fix_source", "lint_paths", "lint_source"]


def _settings(settings: Settings | None, select: Sequence[str] | None, start: Path | None = None) -> Settings:
    if settings is None:
        overrides = {"select": tuple(select)} if select is not None else None
        return load_settings(start, overrides=overrides) if start is not None else Settings(**(overrides or {}))
    if select is not None:
        raise TypeError("pass either settings or select, not both")
    return settings


def lint_source(
    source: str | bytes,
    path: str = "<stdin>",
    settings: Settings | None = None,
    *,
    select: Sequence[str] | None = None,
) -> list[Diagnostic]:
    """Diagnostics for one file's source, sorted by position, noqa comments applied.

    ``source`` may be bytes (decoded as Python does: BOM, PEP 263 cookie). ``path`` is the name
    reported and matched by ``per-file-ignores``. ``select`` (codes, prefixes or ``"ALL"``) is a
    shortcut for ``Settings(select=...)``. Raises ``ConfigError`` on an unknown code.
    """
    return _lint_source(source, path, _settings(settings, select)).diagnostics


def lint_paths(
    paths: Sequence[str | Path],
    settings: Settings | None = None,
    *,
    select: Sequence[str] | None = None,
    jobs: int | None = None,
) -> list[Diagnostic]:
    """Diagnostics for files and folders, in the CLI's order (path, then position).

    Folders are walked with the configured excludes and ``.gitignore``; a path that does not exist
    or cannot be read yields one ``EXP000`` diagnostic. Without ``settings`` each file gets the
    ``[tool.export-lint]`` of its nearest pyproject.toml, as in the CLI.
    """
    names = [str(path) for path in paths] or ["."]
    if settings is None:
        resolver = SettingsResolver(overrides={"select": tuple(select)} if select is not None else None)
        found = discover(names, resolver.for_path(names[0]), settings_for=resolver.for_path)
        groups = resolver.group(found.files)
    else:
        settings = _settings(settings, select)
        found = discover(names, settings)
        groups = [(settings, found.files)]
    errors = [file_error(path, "io-error", message) for path, message in found.errors]
    results = [result for group_settings, group in groups for result in lint_files(group, group_settings, jobs)]
    return sorted([*errors, *(d for result in results for d in result.diagnostics)], key=Diagnostic.sort_key)


def fix_source(
    source: str,
    path: str = "<stdin>",
    settings: Settings | None = None,
    *,
    unsafe: bool = False,
    select: Sequence[str] | None = None,
) -> FixResult:
    """Apply every applicable fix to one file's text, re-linting until nothing more applies.

    ``.text`` is the fixed source, ``.applied`` the number of fixes applied, ``.remaining`` the
    diagnostics left. ``unsafe`` also applies fixes marked unsafe, as ``--unsafe-fixes`` does.
    """
    return fix_text(source, path, _settings(settings, select), unsafe=unsafe)
