"""What ``export-lint check`` says about the files a runtime check touched (no torch needed).

The model being verified is an export root by definition, so its files are linted with its class
as a root (``export-roots``), as a user of its library would configure ``check``: traced-code
rules are not silent in a library that makes no export call of its own.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from export_lint.verify.locate import is_framework


@dataclasses.dataclass(frozen=True)
class ExportRoot:
    """The class of an exported model: the file that defines it, its qualname and its module."""

    path: str
    qualname: str
    module: str

    def to_json(self) -> dict[str, str]:
        return dataclasses.asdict(self)


def export_root(model: Any) -> ExportRoot | None:
    """The model's class as an export root (None for a class without a source file)."""
    cls = type(model)
    try:
        path = inspect.getsourcefile(cls)
    except TypeError:
        return None
    if not path or is_framework(path):
        return None
    return ExportRoot(os.path.realpath(path), cls.__qualname__, cls.__module__)


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


def import_base(root: ExportRoot) -> str | None:
    """The folder ``root.module`` is imported from (site-packages for a library), when the path says so."""
    stem = os.path.splitext(root.path)[0]
    if os.path.basename(stem) == "__init__":
        stem = os.path.dirname(stem)
    parts = root.module.split(".")
    pieces = stem.split(os.sep)
    if len(pieces) <= len(parts) or pieces[-len(parts) :] != parts:
        return None
    return os.sep.join(pieces[: -len(parts)]) or os.sep


def traced_code(roots: Sequence[ExportRoot], files: Iterable[str]) -> Callable[[str], bool]:
    """Whether a file is the model's code: one of ``files``, user code, or in a root's top package
    (not torch's dependencies: sympy, networkx and the like run in every trace)."""
    from export_lint.verify.locate import is_user_code

    known = {os.path.abspath(path) for path in files}
    packages = []
    for root in roots:
        base = import_base(root)
        if base is not None:
            packages.append(os.path.join(base, root.module.split(".")[0]) + os.sep)
    prefixes = tuple(packages)

    def accepts(path: str) -> bool:
        return path in known or (bool(prefixes) and path.startswith(prefixes)) or is_user_code(path)

    return accepts


def _module_file(base: str, qualified: str) -> str | None:
    parts = qualified.split(".")
    for cut in range(len(parts), 0, -1):
        stem = os.path.join(base, *parts[:cut])
        for candidate in (stem + ".py", os.path.join(stem, "__init__.py")):
            if os.path.isfile(candidate):
                return os.path.realpath(candidate)
    return None


def _with_imports(base: str, package: str, files: Sequence[str]) -> list[str]:
    """``files`` and the files of their package their module-level imports name (one level)."""
    from export_lint.analysis.index import ProjectIndex

    index = ProjectIndex(base, extra_files=files, discover=False)
    found = dict.fromkeys(os.path.realpath(path) for path in files)
    for path in list(found):
        facts = index.facts(path)
        for qualified in facts.imports.values() if facts is not None else ():
            if qualified.split(".")[0] == package:
                target = _module_file(base, qualified)
                if target is not None:
                    found.setdefault(target)
    return list(found)


def _project_folder(path: str) -> str:
    current = os.path.dirname(os.path.abspath(path))
    while True:
        if os.path.isfile(os.path.join(current, "pyproject.toml")):
            return current
        parent = os.path.dirname(current)
        if parent == current:
            return os.path.dirname(os.path.abspath(path))
        current = parent


def root_reach(roots: Sequence[ExportRoot], files: Sequence[str]):
    """What the model classes ``roots`` reach in ``files`` (``analysis.roots.Reach``), or None."""
    from export_lint.analysis.index import ProjectIndex
    from export_lint.analysis.roots import compute_reach

    if not roots:
        return None
    root = roots[0]
    base = import_base(root)
    if base is not None:  # an importable module (a library): its files and what they import
        package = root.module.split(".")[0]
        index = ProjectIndex(
            base,
            extra_files=_with_imports(base, package, [r.path for r in roots] + list(files)),
            discover=False,
            on_demand=True,
        )
    else:  # a file loaded by path: the project around it, as ``check`` sees it
        index = ProjectIndex(_project_folder(root.path), extra_files=[r.path for r in roots])
    patterns = []
    for item in roots:
        module = index.module_of.get(os.path.realpath(item.path))
        if module:
            patterns.append(f"{module}:{item.qualname}")
    return compute_reach(index, patterns)


def static_findings(
    paths: Sequence[str],
    select: Sequence[str] | None = None,
    roots: Sequence[ExportRoot] = (),
    memo: dict | None = None,
    torch_version: str | None = None,
) -> dict[str, list[dict]]:
    """{path: [{code, name, row, column, message}]}: check's diagnostics (nearest config, or ``select``)
    on ``paths`` and the files ``roots`` (the exported models' classes) reach, with them as export roots.
    ``memo`` keeps results across calls, per file and what the roots reach in it (many models share files);
    ``torch_version`` overrides the target torch (the one a runtime side ran on, to compare like with like)."""
    from export_lint.analysis.roots import reach_digest
    from export_lint.config import load_settings
    from export_lint.runner import lint_file

    reach = root_reach(roots, paths)
    reached = [path for path, _ in reach.files] if reach is not None else []
    found: dict[str, list[dict]] = {}
    for path in dict.fromkeys([*paths, *reached]):
        if not os.path.isfile(path):
            continue
        overrides: dict[str, object] = {"select": tuple(select)} if select else {}
        if torch_version:
            overrides["torch_version"] = torch_version
        try:
            settings = load_settings(Path(path), overrides=overrides or None)
        except Exception:  # a broken config must not hide the runtime findings
            continue
        if reach is not None and settings.traced == "roots":
            settings = dataclasses.replace(settings, reach=reach)
        key = (path, settings.cache_key(), reach_digest(settings, path))
        if memo is not None and key in memo:
            found[path] = memo[key]
            continue
        result = lint_file(path, settings)
        found[path] = [
            {"code": d.code, "name": d.name, "row": d.start.row, "column": d.start.column, "message": d.message}
            for d in result.diagnostics
            if not d.code.startswith("EXP000") and d.code != "EXP900"
        ]
        if memo is not None:
            memo[key] = found[path]
    return found


def watched_lines(static: dict[str, list[dict]]) -> dict[str, set[int]]:
    """The lines to watch during the trace: those with a static finding."""
    return {path: {item["row"] for item in items} for path, items in static.items() if items}
