"""``[tool.export-lint]`` in the nearest pyproject.toml, merged with CLI overrides into one Settings."""

from __future__ import annotations

import dataclasses
import fnmatch
import functools
import os
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from export_lint import torch_pins, versions
from export_lint.budget import DEFAULT_FILE_TIMEOUT
from export_lint.source import MAX_SOURCE_BYTES

if TYPE_CHECKING:
    from export_lint.analysis.roots import Reach

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

KNOWN_KEYS = frozenset(
    {
        "select",
        "extend-select",
        "ignore",
        "per-file-ignores",
        "exclude",
        "extend-exclude",
        "torch-version",
        "extend",
        "traced",
        "export-roots",
        "max-file-size",
        "file-timeout",
    }
)

#: ``traced``: ``roots`` (what export roots reach; the default) or ``all-modules`` (every forward).
TRACED_CHOICES = ("roots", "all-modules")

DEFAULT_EXCLUDE = (
    ".bzr",
    ".direnv",
    ".eggs",
    ".git",
    ".hg",
    ".mypy_cache",
    ".nox",
    ".pants.d",
    ".pytype",
    ".ruff_cache",
    ".export_lint_cache",
    ".svn",
    ".tox",
    ".venv",
    "__pypackages__",
    "_build",
    "buck-out",
    "build",
    "dist",
    "node_modules",
    "site-packages",
    "venv",
)


class ConfigError(Exception):
    """A configuration or usage error: reported as such, exit code 2."""


@dataclasses.dataclass(frozen=True)
class Settings:
    select: tuple[str, ...] = ("EXP",)
    extend_select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()
    exclude: tuple[str, ...] = DEFAULT_EXCLUDE
    extend_exclude: tuple[str, ...] = ()
    torch_version: str = dataclasses.field(default_factory=versions.default_torch_version)
    #: Where ``torch_version`` came from: a flag, the config, the project's pins, the installed torch.
    torch_version_source: str = dataclasses.field(default_factory=versions.default_torch_source)
    project_root: str = "."
    config_file: str | None = None
    #: What counts as traced code: ``roots`` or ``all-modules`` (see ``TRACED_CHOICES``).
    traced: str = "roots"
    #: Module/class globs of classes traced without an export call in the project.
    export_roots: tuple[str, ...] = ()
    #: What the project's export roots reach (``analysis.roots.Reach``), computed by the CLI before
    #: linting; None: each file's own export calls are its only roots.
    reach: Reach | None = None
    #: Files larger than this many bytes are not read (an EXP000 io-error names the cap).
    max_file_size: int = MAX_SOURCE_BYTES
    #: CPU seconds one file's analysis may take (``--file-timeout``); 0: no budget.
    file_timeout: float = DEFAULT_FILE_TIMEOUT

    def enabled_codes(self, all_codes: Iterable[str], preview_codes: Iterable[str] = ()) -> frozenset[str]:
        """The rule codes that run, from select / extend-select / ignore (ignore wins over select)."""
        codes = sorted(all_codes)
        preview = set(preview_codes)
        selectors = [*self.select, *self.extend_select]
        validate_selectors([*selectors, *self.ignore], codes)
        enabled = set()
        for selector in selectors:
            for code in codes:
                if _selects(selector, code) and (code not in preview or selector == code):
                    enabled.add(code)
        for selector in self.ignore:
            enabled = {code for code in enabled if not _selects(selector, code)}
        return frozenset(enabled)

    def ignored_for(self, path: str) -> tuple[str, ...]:
        """Selectors ignored for one file by ``per-file-ignores``."""
        relative = relative_posix(path, self.project_root)
        ignored: list[str] = []
        for pattern, selectors in self.per_file_ignores:
            if glob_matches(pattern, relative):
                ignored.extend(selectors)
        return tuple(ignored)

    def is_excluded(self, path: str) -> bool:
        relative = relative_posix(path, self.project_root)
        matches = _any_glob((*self.exclude, *self.extend_exclude)).match
        return any(matches(candidate) for candidate in _glob_candidates(relative))

    def is_excluded_entry(self, path: str, relative: str | None = None) -> bool:
        """Whether a file or folder met while walking is excluded: by its name, or by its path
        inside the project. Its ancestors were checked as the walk reached them, so folders above
        the walked root (a ``site-packages`` the user points at) never exclude it. ``relative``,
        when given, is ``relative_posix(path, project_root)`` already computed."""
        if relative is None:
            relative = relative_posix(path, self.project_root)
        candidates = [os.path.basename(os.path.normpath(path))]
        if not os.path.isabs(relative):
            candidates.append(relative)
        matches = _any_glob((*self.exclude, *self.extend_exclude)).match
        return any(matches(candidate) for candidate in candidates)

    def cache_key(self) -> str:
        # What roots reach is checked per file (``analysis.roots.reach_digest``), not per run: a
        # new export script leaves the other files' results cached.
        # The budget decides only whether a file finishes; a finished result is the same.
        return repr(dataclasses.astuple(dataclasses.replace(self, reach=None, file_timeout=0.0)))


def relative_posix(path: str, root: str) -> str:
    # os.path, not pathlib: discovery calls this for every file and folder of the tree.
    absolute = os.path.abspath(path)
    base = os.path.abspath(root)
    if absolute == base:
        return "."
    prefix = base if base.endswith(os.sep) else base + os.sep
    if absolute.startswith(prefix):
        absolute = absolute[len(prefix) :]
    return absolute.replace(os.sep, "/")


def glob_matches(pattern: str, relative: str) -> bool:
    """ruff-style matching: a pattern matches the path, any of its parents, or its basename."""
    matches = _any_glob((pattern,)).match
    return any(matches(candidate) for candidate in _glob_candidates(relative))


# Discovery asks about every file and folder: the path's candidates and the compiled globs are
# computed once (fnmatch per pattern per candidate cost ~1.5 ms a file on transformers' tree).
@functools.lru_cache(maxsize=65536)
def _glob_candidates(relative: str) -> tuple[str, ...]:
    parts = relative.split("/")
    parents = ["/".join(parts[:end]) or "/" for end in range(len(parts) - 1, 0, -1)]
    names = [parent.rsplit("/", 1)[-1] for parent in parents]
    return tuple(dict.fromkeys([relative, parts[-1], *parents, *(name for name in names if name)]))


@functools.lru_cache(maxsize=256)
def _any_glob(patterns: tuple[str, ...]) -> re.Pattern[str]:
    """One regex matching what ``fnmatchcase`` matches for any of the patterns."""
    translated = []
    for pattern in patterns:
        pattern = pattern.rstrip("/")
        if pattern.startswith("./"):
            pattern = pattern[2:]
        translated.append(fnmatch.translate(pattern))
    return re.compile("|".join(f"(?:{part})" for part in translated) or "(?!)")


def _selects(selector: str, code: str) -> bool:
    return selector == "ALL" or code.startswith(selector)


def validate_selectors(selectors: Sequence[str], codes: Sequence[str]) -> None:
    for selector in selectors:
        if not selector.strip():
            raise ConfigError('empty rule selector `""`: it would select every rule; write `ALL` for that')
        if selector != "ALL" and not any(code.startswith(selector) for code in codes):
            raise ConfigError(f"unknown rule selector `{selector}`: no export-lint rule code starts with it")


def find_pyproject(start: Path) -> Path | None:
    """The nearest pyproject.toml with a ``[tool.export-lint]`` table, searching upward."""
    current = start.absolute()
    if current.is_file() or not current.exists():
        current = current.parent
    for folder in (current, *current.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file() and "export-lint" in _tool_tables(candidate):
            return candidate
    return None


def _string_list(table: dict, key: str, source: str) -> tuple[str, ...]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigError(f"{source}: `{key}` must be a list of strings")
    return tuple(value)


def _apply_overrides(values: dict[str, object], overrides: dict[str, object]) -> None:
    """CLI flags win over the config, layered like ruff's.

    ``--select`` starts afresh (the config's select, extend-select and ignore are dropped);
    ``--ignore`` and ``--extend-select`` add to the config's, and ``--extend-select CODE`` also
    lifts a config ``ignore`` of exactly that selector.
    """
    overrides = {key: value for key, value in overrides.items() if value is not None}
    if "select" in overrides:
        values["extend_select"] = ()
        values["ignore"] = ()
    else:
        extend = tuple(overrides.pop("extend_select", ()))
        if extend:
            values["extend_select"] = (*values.get("extend_select", ()), *extend)  # type: ignore[misc]
            values["ignore"] = tuple(s for s in values.get("ignore", ()) if s not in extend)  # type: ignore[union-attr]
        if "ignore" in overrides:
            overrides["ignore"] = (*values.get("ignore", ()), *overrides["ignore"])  # type: ignore[misc]
    values.update(overrides)


def _read_table(path: Path) -> dict:
    """The ``[tool.export-lint]`` table of one pyproject.toml, its keys checked."""
    table = _tool_tables(Path(path)).get("export-lint", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.export-lint] must be a table")
    unknown = sorted(set(table) - KNOWN_KEYS)
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) in [tool.export-lint]: {', '.join(unknown)}")
    return table


def _table_values(table: dict, source: str) -> dict[str, object]:
    """Settings values written in one table (``extend`` aside)."""
    values: dict[str, object] = {}
    for key in ("select", "extend-select", "ignore", "exclude", "extend-exclude", "export-roots"):
        if key in table:
            values[key.replace("-", "_")] = _string_list(table, key, source)
    if "traced" in table:
        values["traced"] = table["traced"]
    if "per-file-ignores" in table:
        per_file = table["per-file-ignores"]
        if not isinstance(per_file, dict):
            raise ConfigError(f"{source}: `per-file-ignores` must be a table of glob = [codes]")
        values["per_file_ignores"] = tuple((glob, _string_list(per_file, glob, source)) for glob in sorted(per_file))
    if "max-file-size" in table:
        size = table["max-file-size"]
        if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
            raise ConfigError(f"{source}: `max-file-size` must be a positive number of bytes, such as 16_777_216")
        values["max_file_size"] = size
    if "file-timeout" in table:
        seconds = table["file-timeout"]
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 <= seconds < float("inf"):
            raise ConfigError(
                f"{source}: `file-timeout` must be a number of CPU seconds >= 0 (0: no budget), such as 60"
            )
        values["file_timeout"] = float(seconds)
    if "torch-version" in table:
        values["torch_version"] = _torch_version_value(table["torch-version"], source)
        values["torch_version_source"] = f"{source} [tool.export-lint] torch-version"
    return values


def _config_values(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, object]:
    """The values of one config file on top of the one it ``extend``s, as ruff layers them:
    the extending file's ``select`` starts afresh, its ``ignore``, ``extend-select`` and
    ``extend-exclude`` add to the base's, every other key replaces the base's."""
    resolved = Path(path).resolve()
    if resolved in seen:
        chain = " -> ".join(str(p) for p in (*seen, resolved))
        raise ConfigError(f"{path}: `extend` makes a cycle: {chain}")
    table = _read_table(path)
    values: dict[str, object] = {}
    if "extend" in table:
        base = table["extend"]
        if not isinstance(base, str):
            raise ConfigError(f"{path}: `extend` must be the path of another pyproject.toml")
        base_path = Path(os.path.expanduser(base))
        base_path = base_path if base_path.is_absolute() else Path(path).parent / base_path
        if not base_path.is_file():
            raise ConfigError(f"{path}: `extend` names {base_path}, which does not exist")
        values = _config_values(base_path, (*seen, resolved))
    own = _table_values(table, str(path))
    if "extend_exclude" in own:
        own["extend_exclude"] = (*values.get("extend_exclude", ()), *own["extend_exclude"])  # type: ignore[misc]
    _apply_overrides(values, own)
    return values


def load_settings(
    start: str | os.PathLike[str] | None = None,
    *,
    config_file: str | os.PathLike[str] | None = None,
    overrides: dict[str, object] | None = None,
) -> Settings:
    """Settings from the nearest pyproject.toml (or ``config_file``), then CLI ``overrides``.
    ``start`` and ``config_file`` may be ``str`` or ``Path``."""
    start = Path(start) if start is not None else None
    config_file = Path(config_file) if config_file is not None else None
    path = config_file if config_file is not None else find_pyproject(start or Path.cwd())
    return _settings_from(path, overrides, start)


def _settings_from(path: Path | None, overrides: dict[str, object] | None, start: Path | None = None) -> Settings:
    """Settings from one config file (or none) and CLI overrides. Without a ``torch-version``, the
    target torch comes from the project's pins: the config's folder, else the nearest
    pyproject.toml above ``start`` (the current folder by default)."""
    values: dict[str, object] = {}
    if path is not None:
        values = _config_values(Path(path))
        values["project_root"] = str(Path(path).parent.absolute())
        values["config_file"] = str(path)
    if (overrides or {}).get("torch_version") is not None:
        values["torch_version_source"] = "--torch-version"
    _apply_overrides(values, overrides or {})
    if values.get("traced", "roots") not in TRACED_CHOICES:
        raise ConfigError(f"`traced` must be one of {', '.join(map(repr, TRACED_CHOICES))}, not {values['traced']!r}")
    if "torch_version" in values:  # written by the user: a version, nothing after it
        _check_torch_version(str(values["torch_version"]))
    if "torch_version" not in values:
        folder = Path(path).parent if path is not None else torch_pins.project_folder(start or Path.cwd())
        pinned = torch_pins.project_torch(folder)
        if pinned is not None:
            values["torch_version"], values["torch_version_source"] = pinned
    if "torch_version" in values:
        try:
            versions.parse_version(str(values["torch_version"]))
        except ValueError as error:
            raise ConfigError(f"invalid torch-version: {error}") from error
    return Settings(**values)  # type: ignore[arg-type]


#: A torch version as users write it: a release (2.6, 2.6.0), optionally with a PEP 440 pre-release,
#: post-release, dev or local part (2.7.0rc1, 2.8.0.dev20250301, 2.6.0+cu124).
_TORCH_VERSION = re.compile(
    r"v?[0-9]+(?:\.[0-9]+)*(?:(?:a|b|rc)[0-9]+)?(?:\.post[0-9]+)?(?:\.dev[0-9]+)?(?:\+[A-Za-z0-9.]+)?"
)


def _check_torch_version(text: str) -> None:
    if _TORCH_VERSION.fullmatch(text.strip()) is None:
        raise ConfigError(f'invalid torch-version {text!r}: write a torch release such as "2.6" or "2.6.0"')


def _torch_version_value(value: object, source: str) -> str:
    """``torch-version`` must be a TOML string: a float ``2.10`` would read as 2.1."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            text = Path(source).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            text = ""
        written = re.search(r"^[ \t]*[\"']?torch-version[\"']?[ \t]*=[ \t]*([0-9][0-9_.eE+-]*)", text, re.MULTILINE)
        literal = written.group(1) if written else repr(value)
        raise ConfigError(
            f"{source}: `torch-version` must be a string, not the TOML number {literal} "
            f'(read as {value!r}); write torch-version = "{literal}"'
        )
    raise ConfigError(f'{source}: `torch-version` must be a string such as "2.5"')


class SettingsResolver:
    """Each file's settings from its own nearest config, as ruff resolves them: ``check pkga
    pkgb`` equals ``check pkgb pkga``, and one pre-commit call over files of several projects
    gives each file its project's config. A file with no config above it gets the one found from
    the current folder (or the defaults). ``config_file`` (``--config``) applies to every file."""

    def __init__(
        self,
        *,
        config_file: str | os.PathLike[str] | None = None,
        overrides: dict | None = None,
        finish: Callable[[Settings], Settings] | None = None,
    ) -> None:
        self.config_file = Path(config_file) if config_file is not None else None
        self.overrides = overrides or {}
        #: Applied once to each config's settings (the CLI adds what export roots reach).
        self.finish = finish
        self._nearest: dict[str, Path | None] = {}  # folder -> its nearest config file
        self._settings: dict[Path | None, Settings] = {}

    def _nearest_config(self, folder: str) -> Path | None:
        chain: list[str] = []
        found: Path | None = None
        current = folder
        while True:
            if current in self._nearest:
                found = self._nearest[current]
                break
            chain.append(current)
            candidate = os.path.join(current, "pyproject.toml")
            if os.path.isfile(candidate) and "export-lint" in _tool_tables(Path(candidate)):
                found = Path(candidate)
                break
            parent = os.path.dirname(current)
            if parent == current:
                break
            current = parent
        for visited in chain:
            self._nearest[visited] = found
        return found

    def _for_config(self, path: Path | None) -> Settings:
        if path not in self._settings:
            settings = _settings_from(path, self.overrides)
            self._settings[path] = self.finish(settings) if self.finish is not None else settings
        return self._settings[path]

    def for_path(self, path: str | os.PathLike[str]) -> Settings:
        """The settings of a file or folder (a missing path: those of its folder)."""
        if self.config_file is not None:
            return self._for_config(self.config_file)
        absolute = os.path.abspath(path)
        folder = absolute if os.path.isdir(absolute) else os.path.dirname(absolute)
        nearest = self._nearest_config(folder)
        if nearest is None:
            nearest = self._nearest_config(os.getcwd())
        return self._for_config(nearest)

    def group(self, paths: Iterable[str]) -> list[tuple[Settings, list[str]]]:
        """``paths`` by the settings that apply to them, in the order first met."""
        groups: dict[Settings, list[str]] = {}
        for path in paths:
            groups.setdefault(self.for_path(path), []).append(path)
        return list(groups.items())


def _tool_tables(path: Path) -> dict:
    """The ``[tool]`` table of a pyproject.toml. As in ruff, any pyproject.toml met on the way up
    must be valid, with or without ``[tool.export-lint]``: a broken one is an error, not skipped."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"cannot read {path}: {error}") from error
    except RecursionError as error:  # tomllib recurses per nesting level of arrays and inline tables
        raise ConfigError(f"cannot read {path}: values nested too deeply") from error
    tool = data.get("tool", {})
    if not isinstance(tool, dict):
        raise ConfigError(f"{path}: `tool` must be a table ([tool.export-lint]), not {type(tool).__name__}")
    return tool
