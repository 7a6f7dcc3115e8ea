"""Paths to Python files: walk folders, honour exclude globs and .gitignore files."""

from __future__ import annotations

import dataclasses
import fnmatch
import os
from collections.abc import Callable
from pathlib import Path

from export_lint.config import Settings, relative_posix

#: Notebooks are linted cell by cell (``export_lint.notebook``), as ruff does by default.
PYTHON_SUFFIXES = (".py", ".pyi", ".ipynb")


@dataclasses.dataclass(frozen=True)
class Discovered:
    files: list[str]
    #: (path, message) for paths that could not be walked or do not exist.
    errors: list[tuple[str, str]]
    #: (path, message) for explicit paths skipped on purpose (not Python, excluded).
    warnings: list[tuple[str, str]]


@dataclasses.dataclass(frozen=True)
class _IgnoreRule:
    base: str  # folder the .gitignore lives in, posix
    pattern: str
    negated: bool
    directory_only: bool
    anchored: bool

    def matches(self, path: str, is_dir: bool) -> bool:
        if self.directory_only and not is_dir:
            return False
        if self.base and not (path == self.base or path.startswith(self.base + "/")):
            return False
        relative = path[len(self.base) + 1 :] if self.base else path
        if self.anchored:
            return fnmatch.fnmatchcase(relative, self.pattern)
        parts = relative.split("/")
        return any(fnmatch.fnmatchcase("/".join(parts[i:]), self.pattern) for i in range(len(parts)))


def _read_gitignore(folder: Path, base: str) -> list[_IgnoreRule]:
    try:
        lines = (folder / ".gitignore").read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    rules = []
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        line = line.lstrip("!")
        directory_only = line.endswith("/")
        line = line.strip("/") if directory_only else line
        anchored = "/" in line.rstrip("/")
        line = line.lstrip("/")
        rules.append(_IgnoreRule(base, line, negated, directory_only, anchored))
    return rules


def _ignored(rules: list[_IgnoreRule], path: str, is_dir: bool) -> bool:
    ignored = False
    for rule in rules:
        if rule.matches(path, is_dir):
            ignored = not rule.negated
    return ignored


def discover(
    paths: list[str],
    settings: Settings,
    *,
    force_exclude: bool = False,
    settings_for: Callable[[str], Settings] | None = None,
) -> Discovered:
    """Files to lint under ``paths``, sorted; explicit files are linted unless ``force_exclude``.

    ``settings_for`` gives a folder's own settings (``SettingsResolver.for_path``): each folder's
    entries are then excluded by the config nearest to it, as ruff does; by default ``settings``
    apply everywhere. ``.gitignore`` files are read from ``settings``' project root down."""
    local = settings_for or (lambda _: settings)
    files: set[str] = set()
    errors: list[tuple[str, str]] = []
    warnings: list[tuple[str, str]] = []
    root = Path(settings.project_root)
    for raw in paths:
        path = Path(raw)
        if path.is_symlink() and not path.exists():
            errors.append((raw, "broken symbolic link (or a link loop)"))
            continue
        if not path.exists():
            errors.append((raw, "No such file or directory"))
            continue
        if path.is_file():
            if force_exclude and local(raw).is_excluded(raw):
                continue
            if not raw.endswith(PYTHON_SUFFIXES):
                warnings.append((raw, "not a Python file (.py/.pyi/.ipynb); skipped"))
                continue
            files.add(os.path.normpath(raw))
            continue
        if force_exclude and local(raw).is_excluded(raw):
            continue
        ignore_rules: list[_IgnoreRule] = []
        # .gitignore files between the project root and the walked folder apply too.
        absolute = path.absolute()
        for folder in reversed([absolute, *absolute.parents]):
            if folder == absolute or root.absolute() in (folder, *folder.parents):
                base = relative_posix(str(folder), str(root))
                ignore_rules += _read_gitignore(folder, "" if base == "." else base)

        def on_error(error: OSError, raw: str = raw) -> None:
            errors.append((os.path.normpath(error.filename or raw), error.strerror or str(error)))

        # os.walk lists links to folders among the folders, so every name below is a file.
        for folder, subfolders, names in os.walk(raw, onerror=on_error, followlinks=False):
            folder_rel = relative_posix(folder, str(root))
            prefix = "" if folder_rel == "." else folder_rel + "/"
            if folder != raw:
                ignore_rules += _read_gitignore(Path(folder), prefix[:-1])
            here = local(folder)
            if here.project_root != settings.project_root:
                here_rel = relative_posix(folder, here.project_root)
                here_prefix = "" if here_rel == "." else here_rel + "/"
            else:
                here_prefix = prefix
            kept = []
            for sub in sorted(subfolders):
                sub_path = os.path.join(folder, sub)
                if here.is_excluded_entry(sub_path, here_prefix + sub) or _ignored(ignore_rules, prefix + sub, True):
                    continue
                if not os.access(sub_path, os.R_OK | os.X_OK):
                    errors.append((os.path.normpath(sub_path), "Permission denied"))
                    continue
                kept.append(sub)
            subfolders[:] = kept
            for name in names:
                if not name.endswith(PYTHON_SUFFIXES):
                    continue
                file_path = os.path.join(folder, name)
                if here.is_excluded_entry(file_path, here_prefix + name) or _ignored(
                    ignore_rules, prefix + name, False
                ):
                    continue
                files.add(os.path.normpath(file_path))
    return Discovered(sorted(files), errors, warnings)
