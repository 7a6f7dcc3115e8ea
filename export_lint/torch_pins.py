"""The torch a project targets, read from its pins, as ruff reads ``requires-python``.

Looked for in the project folder, first match wins: ``[project].dependencies`` then
``[project].optional-dependencies`` of pyproject.toml, pip requirement files (``requirements*.txt``,
``requirements/*.txt``, ``reqs/*.pip``, ... see :data:`REQUIREMENT_LOCATIONS`) / ``constraints*.txt``,
``uv.lock`` / ``poetry.lock`` / ``pdm.lock``, ``environment.yml``. The target is the lowest torch
the pins allow (``torch>=2.5,<2.7`` -> 2.5; a lock's locked version). Nothing here imports torch
or executes anything from the project.
"""

from __future__ import annotations

import fnmatch
import os
import re
import sys
from pathlib import Path

from export_lint import versions

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

#: Largest pin file read; anything bigger is skipped.
MAX_BYTES = 4 * 2**20

# Each blank run is matched by one `\s*` only (adjacent `\s*\s*` backtracks quadratically).
_REQUIREMENT = re.compile(r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\]\s*)?(?P<rest>.*)")
_CLAUSE = re.compile(r"^\s*(?:(===|~=|==|!=|<=|>=|<|>|=)\s*)?([0-9][0-9A-Za-z.*+!-]*)\s*$")
_TORCH_NAMES = {"torch", "pytorch"}


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def lowest_allowed(spec: str) -> str | None:
    """The lowest torch a specifier allows (``">=2.5,<2.7"`` -> ``"2.5"``); None when unbounded below
    and no known release satisfies it, or when the specifier cannot be read."""
    lower: list[versions.Version] = []
    checks: list[str] = []
    excluded: list[versions.Version] = []  # ``!=2.4.*``
    for part in spec.split(","):
        if not part.strip():
            continue
        match = _CLAUSE.match(part)
        if not match:
            return None
        op, text = match.group(1) or "==", match.group(2)
        if op == "=":  # conda: ``pytorch=2.5`` means 2.5.*
            op, text = "==", text if text.endswith("*") else f"{text}.*"
        if text.endswith(".*"):
            base = versions.parse_version(text[:-2])
            if op == "!=":
                excluded.append(base)
                continue
            upper = (*base[:-1], base[-1] + 1)
            lower.append(base)
            checks += [f">={_text(base)}", f"<{_text(upper)}"]
            continue
        try:
            bound = versions.parse_version(text)
        except ValueError:
            return None
        if op in {"==", "===", ">=", ">", "~="}:
            lower.append(bound)
        if op == "~=":
            upper = (*bound[:-2], bound[-2] + 1) if len(bound) >= 2 else (bound[0] + 1,)
            checks += [f">={_text(bound)}", f"<{_text(upper)}"]
        elif op in {"==", "==="}:
            checks.append(f"=={_text(bound)}")
        elif op == ">":
            checks.append(f">={_text(bound)}")  # the gates are per minor release: >2.5 still allows 2.5.1
        else:
            checks.append(f"{op}{_text(bound)}")
    if not checks and not excluded:
        return None  # a bare ``torch``: no pin
    candidates = sorted({*lower, *(versions.parse_version(r) for r in versions.KNOWN_RELEASES)})
    if lower:
        candidates = [c for c in candidates if c >= max(lower)]
    for candidate in candidates:
        padded = candidate + (0,) * 3
        if all(versions.matches(candidate, check) for check in checks) and not any(
            padded[: len(prefix)] == prefix for prefix in excluded
        ):
            return _text(candidate)
    return None


def _text(version: versions.Version) -> str:
    return ".".join(str(part) for part in version)


def _requirement_spec(line: str) -> str | None:
    """The specifier of a ``torch`` requirement line (``""`` when bare), or None for other packages."""
    line = line.split("#", 1)[0].strip()
    if not line or line.startswith("-"):
        return None
    match = _REQUIREMENT.match(line)
    if not match or _normal(match.group("name")) not in _TORCH_NAMES:
        return None
    rest = match.group("rest").split(";", 1)[0].strip()
    if rest.startswith("@"):
        return None
    return rest.strip("()").replace(" ", "")


def _lowest_of(specs: list[str]) -> str | None:
    found = [v for v in (lowest_allowed(spec) for spec in specs if spec) if v is not None]
    return min(found, key=versions.parse_version) if found else None


def _read(path: Path) -> str | None:
    try:
        if not path.is_file() or path.stat().st_size > MAX_BYTES:
            return None
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def _from_pyproject(folder: Path) -> tuple[str, str] | None:
    text = _read(folder / "pyproject.toml")
    if text is None:
        return None
    try:
        project = tomllib.loads(text).get("project", {})
    except (tomllib.TOMLDecodeError, RecursionError):
        return None
    if not isinstance(project, dict):
        return None
    groups: list[tuple[str, object]] = [("[project].dependencies", project.get("dependencies"))]
    optional = project.get("optional-dependencies")
    if isinstance(optional, dict):
        groups += [(f"[project.optional-dependencies].{name}", deps) for name, deps in optional.items()]
    for where in ("[project].dependencies", "[project.optional-dependencies]"):
        specs, lines = [], []
        for label, deps in groups:
            if not label.startswith(where) or not isinstance(deps, list):
                continue
            for dep in deps:
                spec = _requirement_spec(dep) if isinstance(dep, str) else None
                if spec:
                    specs.append(spec)
                    lines.append(dep.strip())
        version = _lowest_of(specs)
        if version is not None:
            return version, f"{folder / 'pyproject.toml'} {where}: {', '.join(lines)}"
    return None


#: Where pip requirement files are conventionally kept, read in this order (issue 14's
#: ``requirements*.txt`` / ``constraints*.txt`` place): the first location whose files pin torch wins,
#: and within it the lowest torch any of its files allows. ``folder/**`` searches at most two
#: folders deep, never through links.
REQUIREMENT_LOCATIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("", ("requirements*.txt", "requirements*.in", "requirements*.pip")),
    ("requirements", ("*.txt", "*.in", "*.pip")),
    ("reqs", ("*.pip", "*.txt", "*.in")),
    ("", ("constraints*.txt",)),
)
_NESTED_DEPTH = 2
#: Files that pin what a documentation build needs, not the torch the code targets.
_DOCS_PARTS = frozenset({"doc", "docs"})
#: Options of a requirement line that include another file (``-r other.txt``, ``--constraint=c.txt``).
_INCLUDE_OPTIONS = ("--requirement", "--constraint", "-r", "-c")
_MAX_INCLUDES = 3


def _requirement_files(folder: Path, subfolder: str, patterns: tuple[str, ...]) -> list[Path]:
    base = folder / subfolder if subfolder else folder
    if not base.is_dir() or base.is_symlink():
        return []
    found: list[Path] = []
    for current, dirs, files in os.walk(base):  # os.walk does not follow links to folders
        depth = len(Path(current).relative_to(base).parts)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")) if subfolder and depth < _NESTED_DEPTH else []
        for name in sorted(files):
            if any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns) and not _is_docs(name):
                found.append(Path(current) / name)
    return found


def _is_docs(name: str) -> bool:
    return bool(_DOCS_PARTS & set(name.lower().replace("-", ".").replace("_", ".").split(".")))


def _included(line: str) -> str | None:
    """The file a ``-r``/``-c`` line includes, or None."""
    line = line.strip()
    for option in _INCLUDE_OPTIONS:
        if line.startswith(option):
            rest = line[len(option) :]
            if option.startswith("--") and rest[:1] not in {"=", " ", "\t"}:
                return None  # another long option (``--constraints-file``)
            parts = rest.lstrip("= \t").split()
            return parts[0] if parts else None
    return None


def _pip_specs(path: Path, project: Path, depth: int = 0) -> list[str]:
    """The torch specifiers of a pip requirement file and of the files it includes (``-r``/``-c``,
    inside the project folder only)."""
    try:
        inside = path.resolve().is_relative_to(project.resolve())
    except (OSError, RuntimeError):
        inside = False
    text = _read(path) if inside else None
    if text is None:
        return []
    specs: list[str] = []
    for line in text.splitlines():
        include = _included(line)
        if include is not None:
            if depth < _MAX_INCLUDES:
                specs += _pip_specs(path.parent / include, project, depth + 1)
            continue
        spec = _requirement_spec(line)
        if spec:
            specs.append(spec)
    return specs


def _from_requirements(folder: Path) -> tuple[str, str] | None:
    for subfolder, patterns in REQUIREMENT_LOCATIONS:
        pinned: list[tuple[str, Path, list[str]]] = []
        for path in _requirement_files(folder, subfolder, patterns):
            specs = _pip_specs(path, folder)
            version = _lowest_of(specs)
            if version is not None:
                pinned.append((version, path, specs))
        if pinned:
            version, path, specs = min(pinned, key=lambda item: versions.parse_version(item[0]))
            return version, f"{path}: torch{', torch'.join(specs)}"
    return None


def _from_locks(folder: Path) -> tuple[str, str] | None:
    for name in ("uv.lock", "poetry.lock", "pdm.lock"):
        text = _read(folder / name)
        if text is None:
            continue
        try:
            packages = tomllib.loads(text).get("package", [])
        except (tomllib.TOMLDecodeError, RecursionError):
            continue
        locked = [
            p["version"]
            for p in packages
            if isinstance(packages, list)
            if isinstance(p, dict) and _normal(str(p.get("name", ""))) == "torch" and isinstance(p.get("version"), str)
        ]
        good = []
        for text_version in locked:
            try:
                good.append((versions.parse_version(text_version), text_version))
            except ValueError:
                continue
        if good:
            version, raw = min(good)
            return _text(version), f"{folder / name}: torch {raw} locked"
    return None


_CONDA_DEP = re.compile(r"^\s*-\s*['\"]?(?P<dep>[^'\"#]+)")


def _from_environment(folder: Path) -> tuple[str, str] | None:
    for name in ("environment.yml", "environment.yaml"):
        text = _read(folder / name)
        if text is None:
            continue
        specs, lines = [], []
        for line in text.splitlines():
            match = _CONDA_DEP.match(line)
            if not match:
                continue
            dep = match.group("dep").strip()
            dep = dep.split("::", 1)[-1]  # ``pytorch::pytorch=2.5``
            conda = re.match(r"^(pytorch|torch)(?:\s+|(?=[=<>!~]))(.*)$", dep)
            if not conda:
                continue
            spec = conda.group(2).strip()
            if re.match(r"^=?[0-9]", spec) and not spec.startswith("=="):
                # ``pytorch=2.5`` / ``pytorch=2.5.1=build`` / ``pytorch 2.5.*``: a prefix match
                spec = "=" + re.split(r"[=\s]", spec.lstrip("="), maxsplit=1)[0]
            spec = spec.replace(" ", "")
            if spec:
                specs.append(spec)
                lines.append(dep)
        version = _lowest_of(specs)
        if version is not None:
            return version, f"{folder / name}: {', '.join(lines)}"
    return None


def project_torch(folder: Path) -> tuple[str, str] | None:
    """(lowest torch the project's pins allow, where that came from), or None without pins."""
    for reader in (_from_pyproject, _from_requirements, _from_locks, _from_environment):
        found = reader(folder)
        if found is not None:
            return found
    return None


def project_folder(start: Path) -> Path:
    """The folder of the nearest pyproject.toml (any), searching upward from ``start``; else ``start``'s."""
    current = start.absolute()
    if current.is_file() or not current.exists():
        current = current.parent
    for folder in (current, *current.parents):
        if (folder / "pyproject.toml").is_file():
            return folder
    return current
