"""Settings for a document: the nearest pyproject.toml (re-read when it changes) and the editor's options.

The editor's options (``initializationOptions``, ``workspace/didChangeConfiguration``) act as the
CLI's flags do: ``select`` starts afresh, ``ignore`` and ``extendSelect`` add to the config's,
``torchVersion`` wins. A file with no ``[tool.export-lint]`` above it belongs to the workspace
folder that holds it (its project root, where the results cache lives).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from export_lint.config import ConfigError, Settings, load_settings

#: Editor option -> Settings field, in the spellings clients use (camelCase, the TOML's kebab-case).
_OPTION_FIELDS = {
    "select": "select",
    "extendSelect": "extend_select",
    "extend-select": "extend_select",
    "ignore": "ignore",
    "torchVersion": "torch_version",
    "torch-version": "torch_version",
}


def overrides_from(options: Mapping[str, object] | None) -> dict[str, object]:
    """``load_settings`` overrides from the editor's options; raises ConfigError on a bad value."""
    overrides: dict[str, object] = {}
    for key, value in (options or {}).items():
        field = _OPTION_FIELDS.get(key)
        if field is None or value is None:
            continue
        if field == "torch_version":
            if not isinstance(value, str):
                raise ConfigError(f'editor option `{key}` must be a string such as "2.5"')
            overrides[field] = value
        elif isinstance(value, list) and all(isinstance(item, str) for item in value):
            overrides[field] = tuple(value)
        else:
            raise ConfigError(f"editor option `{key}` must be a list of rule codes or prefixes")
    return overrides


def _fingerprint(folder: Path) -> tuple:
    """The stat of every pyproject.toml from ``folder`` upward: any edit, creation or removal changes it."""
    found = []
    for candidate in (folder, *folder.parents):
        try:
            stat = os.stat(candidate / "pyproject.toml")
            found.append((str(candidate), stat.st_mtime_ns, stat.st_size, stat.st_ino))
        except OSError:
            continue
    return tuple(found)


class SettingsResolver:
    """Settings per folder, cached until a pyproject.toml above it changes or the options do."""

    def __init__(self) -> None:
        self.overrides: dict[str, object] = {}
        self.folders: tuple[Path, ...] = ()
        self._cache: dict[Path, tuple[tuple, Settings | ConfigError]] = {}

    def configure(self, options: Mapping[str, object] | None) -> None:
        self.overrides = overrides_from(options)
        self._cache.clear()

    def set_folders(self, folders: Iterable[Path]) -> None:
        # deepest first: a file belongs to the innermost workspace folder holding it
        self.folders = tuple(sorted((folder.absolute() for folder in folders), key=lambda f: -len(f.parts)))
        self._cache.clear()

    def in_workspace(self, path: str) -> bool:
        """Whether a file lies in a workspace folder (only those files' results go to the cache:
        a library file opened to read it leaves nothing behind)."""
        absolute = Path(path).absolute()
        return any(folder in absolute.parents for folder in self.folders)

    def for_path(self, path: str) -> Settings | ConfigError:
        folder = Path(path).absolute().parent
        fingerprint = _fingerprint(folder)
        cached = self._cache.get(folder)
        if cached is not None and cached[0] == fingerprint:
            return cached[1]
        try:
            settings: Settings | ConfigError = self._load(folder)
        except ConfigError as error:
            settings = error
        self._cache[folder] = (fingerprint, settings)
        return settings

    def _load(self, folder: Path) -> Settings:
        from export_lint.rules import CODES

        settings = load_settings(folder, overrides=dict(self.overrides))
        if settings.config_file is None:
            root = next((f for f in self.folders if f == folder or f in folder.parents), None)
            # ``check`` run in that folder has the project root "." (part of the cache's run key):
            # kept when the editor started the server there, so both find the same cache entries
            if root is not None and root != Path.cwd().absolute():
                settings = dataclasses.replace(settings, project_root=str(root))
        settings.enabled_codes(sorted(CODES))  # an unknown code is a config error, said once
        return settings
