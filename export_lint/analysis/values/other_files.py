"""Functions and module classes of other files, for calls the value analysis follows there.

A helper imported from another project file (``from .ops import masked_scores``) or a submodule
class defined there (``self.encoder = Encoder()``) is answered by a summary computed in that
file's own :class:`~export_lint.analysis.values.program.FileProgram`, built without analysing
the file's traced code (only the summaries asked for run). Files are read as text, never
imported; each is parsed once per process and version, and the linted file's cached results
depend on its whole text (``external.record_text_read``). Only files of the same project (the
files outside ``site-packages``) are followed; installed packages, torch itself, large files and
files nested too deep to parse safely are not.
"""

from __future__ import annotations

import ast
import functools
import os

import libcst as cst

from export_lint.analysis import external
from export_lint.analysis.semantic import SemanticModel
from export_lint.source import read_source_file

#: Files larger than this are not followed: each followed file costs a LibCST parse per worker, and
#: a library's large modules (transformers' ``masking_utils``, other models' ``modeling_*.py``)
#: would double the parse work of a run; helper and layer files of a project are smaller.
MAX_BYTES = 30_000
#: Deeper than this, an expression could overflow LibCST's parser (see ``engine.MAX_NESTING``).
MAX_NESTING = 200
#: Packages whose functions the analysis knows from the torch facts table, or never follows.
_NOT_FOLLOWED = ("torch", "numpy", "builtins", "typing", "math", "functools", "itertools", "collections")


def followed(qualified: str) -> bool:
    """Whether calls of ``qualified`` may be followed into its file."""
    top = qualified.lstrip(".").split(".")[0]
    return bool(top) and top not in _NOT_FOLLOWED


def _installed_package(path: str) -> tuple[str, ...] | None:
    """``(..., "site-packages", "transformers")`` for a file of an installed package, else None."""
    parts = os.path.abspath(path).split(os.sep)
    for marker in ("site-packages", "dist-packages"):
        if marker in parts:
            index = parts.index(marker)
            return tuple(parts[: index + 2])
    return None


def _nesting(tree: ast.AST) -> int:
    deepest = 0
    todo = [(tree, 1)]
    while todo:
        node, depth = todo.pop()
        deepest = max(deepest, depth)
        todo.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return deepest


@functools.lru_cache(maxsize=64)
def _parsed(path: str, dotted: str, version: tuple[int, int, int] | None) -> SemanticModel | None:
    try:
        if os.path.getsize(path) > MAX_BYTES:
            return None
        data = read_source_file(path)
        if _nesting(ast.parse(data)) > MAX_NESTING:
            return None
        return SemanticModel(cst.parse_module(data), path, dotted)
    except (OSError, SyntaxError, ValueError, RecursionError, MemoryError, cst.ParserSyntaxError):
        return None


def _reached_in_package(reach, path: str, importer: str, name: str) -> bool:
    """Whether an export root reaches ``name`` (a function, or a method of the class ``name``) in
    ``path``, a file of the importer's own installed package."""
    if reach is None or _installed_package(path) != _installed_package(importer):
        return False
    reached = reach.for_file(path)
    return name in reached or any(qualname.startswith(name + ".") for qualname in reached)


def semantic_of(qualified: str, importer: str, reach=None) -> tuple[SemanticModel, str] | None:
    """The semantic model of the file defining ``qualified``'s module, and the name in it. Within
    an installed package, only what the export roots of ``reach`` reach is followed."""
    if not followed(qualified):
        return None
    found = external.module_source(qualified, importer)
    if found is None:
        return None
    path, dotted = found
    if os.path.abspath(path) == os.path.abspath(importer):
        return None
    installed = _installed_package(path) is not None or _installed_package(importer) is not None
    if installed and not _reached_in_package(reach, path, importer, qualified.rpartition(".")[2]):
        # A project's own files, and of an installed library only the functions an export root
        # reaches: following a library's modules into each other (transformers' models import
        # other models' layers) cost a quarter more CPU on its tree.
        return None
    semantic = _parsed(path, dotted, external.file_version(path))
    if semantic is None:
        return None
    external.record_text_read(path)
    return semantic, qualified.rpartition(".")[2]
