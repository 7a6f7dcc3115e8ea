"""Facts about classes defined outside the linted file, read from source text, never imported.

Installed packages (torchvision's MViT, transformers' models) and the user's other project files
are located on ``sys.path`` and next to the importing file, parsed with :mod:`ast` and cached.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import functools
import hashlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from export_lint.analysis.torch_names import KNOWN_MODULE_BASES
from export_lint.source import read_source_file

_MAX_DEPTH = 12


#: Files read while linting the current file, for the results cache (see ``recording_reads``).
_reads: set[str] | None = None


#: Files whose whole text the current file's results depend on (the value analysis reads their
#: function bodies): a change anywhere in them, not only in their summary, invalidates the results.
_text_reads: set[str] | None = None


#: How each module looked up while linting the current file resolved: (dotted name, folder it is
#: relative to) -> its file, or None when not found (see ``recording_resolutions``).
_resolutions: dict[tuple[str, str], str | None] | None = None


@contextlib.contextmanager
def recording_reads() -> Iterator[set[str]]:
    """Collect the paths of the files this module reads (its own cache hits included)."""
    global _reads
    outer, _reads = _reads, set()
    try:
        yield _reads
    finally:
        _reads = outer


def record_text_read(path: str) -> None:
    """Note that the current file's results depend on all of ``path``'s text."""
    if _reads is not None:
        _reads.add(path)
    if _text_reads is not None:
        _text_reads.add(path)


@contextlib.contextmanager
def recording_text_reads() -> Iterator[set[str]]:
    """Collect the paths passed to ``record_text_read`` (a subset of the reads)."""
    global _text_reads
    outer, _text_reads = _text_reads, set()
    try:
        yield _text_reads
    finally:
        _text_reads = outer


def module_source(qualified: str, importer: str) -> tuple[str, str] | None:
    """The file defining the module of ``pkg.mod.name`` (or ``..mod.name`` relative to
    ``importer``) and that module's dotted name, recording the lookup; None when not found."""
    module = qualified.rpartition(".")[0]
    if not module.strip("."):
        return None
    dotted, anchor = _absolute_module(module, str(Path(importer).resolve()) if importer else "")
    found = _module_file(dotted, anchor) if dotted else None
    return (found, dotted) if found else None


@contextlib.contextmanager
def recording_resolutions() -> Iterator[dict[tuple[str, str], str | None]]:
    """Collect every module lookup and its outcome, "not found" included: a cached result stands
    only while each lookup still resolves the same way (a module that appears later, or a
    ``PYTHONPATH`` entry that shadows it, changes the answer)."""
    global _resolutions
    outer, _resolutions = _resolutions, {}
    try:
        yield _resolutions
    finally:
        _resolutions = outer


@dataclasses.dataclass(frozen=True)
class ClassSummary:
    """What export-lint reads of a class defined in another file."""

    name: str
    #: Each base as dotted text (``nn.Module``); bases that are not names are left out.
    bases: tuple[str, ...]
    #: Method name -> its parameter names without the first (``self``), keyword-only ones included.
    methods: dict[str, list[str]]


@dataclasses.dataclass(frozen=True)
class ModuleSummary:
    """The top level of another file: its classes, imports, functions' return annotations and star
    imports. Kept instead of the file's AST, which is ~100x larger: memory stays flat however many
    files a tree's classes lead to."""

    classes: dict[str, ClassSummary]
    imports: dict[str, str]
    #: Function name -> its return annotation as dotted text (None when absent or not a name).
    returns: dict[str, str | None]
    star_imports: tuple[str, ...]


def _summarize(tree: ast.Module) -> ModuleSummary:
    classes: dict[str, ClassSummary] = {}
    returns: dict[str, str | None] = {}
    stars: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            methods: dict[str, list[str]] = {}
            for stmt in node.body:
                if isinstance(stmt, ast.FunctionDef) and stmt.name not in methods:
                    args = stmt.args
                    names = [a.arg for a in [*args.posonlyargs, *args.args]][1:]
                    methods[stmt.name] = names + [a.arg for a in args.kwonlyargs]
            bases = tuple(text for text in map(_dotted, node.bases) if text is not None)
            classes.setdefault(node.name, ClassSummary(node.name, bases, methods))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name not in returns:
            returns[node.name] = _dotted(node.returns) if node.returns is not None else None
        elif isinstance(node, ast.ImportFrom) and any(alias.name == "*" for alias in node.names):
            stars.append(f"{'.' * node.level}{node.module or ''}")
    return ModuleSummary(classes, _imports_of(tree), returns, tuple(stars))


def _parse(path: str) -> ModuleSummary | None:
    if _reads is not None:
        _reads.add(path)
    return _parse_cached(path, file_version(path))


def file_version(path: str) -> tuple[int, int, int] | None:
    """Size, mtime and ctime: a file edited while this process lives is read again."""
    try:
        found = os.stat(path)
    except OSError:
        return None
    return (found.st_size, found.st_mtime_ns, found.st_ctime_ns)


def summary_digest(path: str) -> str | None:
    """A hash of what export-lint reads of a file (its ``ModuleSummary``): a change to the file
    that leaves it alone (a function body, a comment) cannot change the results of files that
    import from it. None when the file cannot be read or parsed."""
    summary = _parse_cached(path, file_version(path))
    return None if summary is None else hashlib.sha256(repr(summary).encode()).hexdigest()


@functools.lru_cache(maxsize=4096)
def _parse_cached(path: str, version: tuple[int, int, int] | None) -> ModuleSummary | None:
    try:
        return _summarize(ast.parse(read_source_file(path), filename=path))
    except (OSError, SyntaxError, ValueError, RecursionError):
        return None


def _module_file(dotted: str, anchor_dir: str) -> str | None:
    """The source file of module ``dotted``, looked up under ``anchor_dir`` and ``sys.path``."""
    found = resolve_module(dotted, anchor_dir)
    if _resolutions is not None:
        _resolutions[(dotted, anchor_dir)] = found
    return found


@functools.lru_cache(maxsize=4096)
def resolve_module(dotted: str, anchor_dir: str) -> str | None:
    """``_module_file`` without recording (memoized for the life of the process)."""
    parts = dotted.split(".")
    roots = [anchor_dir, *[entry or os.getcwd() for entry in sys.path]]
    for root in roots:
        base = Path(root, *parts)
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return str(candidate)
    return None


def _absolute_module(module: str, importer: str) -> tuple[str, str]:
    """Resolve a relative module (``..modeling_utils``) against the importing file's folder.

    Returns ``(dotted, anchor_dir)``: the module name and the folder it is relative to.
    """
    if not module.startswith("."):
        return module, str(Path(importer).parent)
    level = len(module) - len(module.lstrip("."))
    folder = Path(importer).parent
    for _ in range(level - 1):
        folder = folder.parent
    return module[level:], str(folder)


def _imports_of(tree: ast.Module) -> dict[str, str]:
    names: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    names[alias.asname] = alias.name
                else:
                    names[alias.name.split(".")[0]] = alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            sep = "" if module.endswith(".") else "."
            for alias in node.names:
                names[alias.asname or alias.name] = f"{module}{sep}{alias.name}"
    return names


def _dotted(expr: ast.expr) -> str | None:
    if isinstance(expr, ast.Name):
        return expr.id
    if isinstance(expr, ast.Attribute):
        head = _dotted(expr.value)
        return f"{head}.{expr.attr}" if head else None
    return None


def find_class(qualified: str, importer: str) -> tuple[ClassSummary, str] | None:
    """The class ``pkg.mod.Class`` (or ``..mod.Class`` relative to ``importer``) and its file."""
    return _find_class(qualified, str(Path(importer).resolve()) if importer else "", 0)


# Not cached itself (its parses are), so that ``recording_reads`` sees every file a lookup reads.
def _find_class(qualified: str, importer: str, depth: int) -> tuple[ClassSummary, str] | None:
    if depth > _MAX_DEPTH or "." not in qualified:
        return None
    module, _, name = qualified.rpartition(".")
    if not module.strip("."):
        module_file = importer
    else:
        dotted, anchor = _absolute_module(module, importer)
        module_file = _module_file(dotted, anchor) if dotted else str(Path(anchor) / "__init__.py")
    if not module_file:
        return None
    summary = _parse(module_file)
    if summary is None:
        return None
    found = summary.classes.get(name)
    if found is not None:
        return found, module_file
    # Re-exported through an import in that module (``from .modeling import Model``).
    target = summary.imports.get(name)
    if target is not None and target != qualified:
        return _find_class(target, module_file, depth + 1)
    return None


def _qualify(text: str, imports: dict[str, str]) -> str:
    """Dotted text of another file as a qualified name, through that file's imports."""
    head, _, rest = text.partition(".")
    if head in imports:
        return imports[head] + (f".{rest}" if rest else "")
    return f".{text}"  # defined in the same module


def base_names(node: ClassSummary, module_file: str) -> list[str]:
    """Qualified names of a class's bases, through its module's imports."""
    summary = _parse(module_file)
    imports = summary.imports if summary is not None else {}
    return [_qualify(text, imports) for text in node.bases]


def is_module_class(qualified: str, importer: str, _depth: int = 0) -> bool:
    """Whether a class defined in another file subclasses ``torch.nn.Module``."""
    if qualified in KNOWN_MODULE_BASES or qualified.startswith("torch.nn.modules."):
        return True
    if _depth > _MAX_DEPTH:
        return False
    found = find_class(qualified, importer)
    if found is None:
        return False
    node, module_file = found
    return any(is_module_class(base, module_file, _depth + 1) for base in base_names(node, module_file))


def method_params(qualified: str, importer: str, method: str = "forward") -> list[str] | None:
    """Parameter names (without ``self``) of a method of an external class, or None if unknown."""
    found = find_class(qualified, importer)
    depth = 0
    while found is not None and depth < _MAX_DEPTH:
        node, module_file = found
        if method in node.methods:
            return list(node.methods[method])
        bases = base_names(node, module_file)
        found = find_class(bases[0], module_file) if bases else None
        depth += 1
    return None


def function_return_class(qualified: str, importer: str, _depth: int = 0) -> tuple[str, str] | None:
    """The class a module-level function of another file is annotated to return (``def f() -> MViT``).

    Returns ``(class name, file to resolve it from)``, e.g. ``(".MViT", ".../mvit.py")``, or None.
    Follows re-exports, ``from .mvit import *`` included (torchvision's ``models.video``).
    """
    module, _, name = qualified.rpartition(".")
    if not module.strip(".") or _depth > _MAX_DEPTH:
        return None
    dotted, anchor = _absolute_module(module, str(Path(importer).resolve()) if importer else "")
    module_file = _module_file(dotted, anchor) if dotted else None
    summary = _parse(module_file) if module_file else None
    if summary is None:
        return None
    if name in summary.returns:
        text = summary.returns[name]
        return (_qualify(text, summary.imports), module_file) if text is not None else None
    target = summary.imports.get(name)
    if target is not None:
        return function_return_class(target, module_file, _depth + 1)
    for star in summary.star_imports:
        found = function_return_class(f"{star}.{name}", module_file, _depth + 1)
        if found is not None:
            return found
    return None
