"""What traced code of other files passes to this file's functions.

A function an export root reaches only through another file (``box_ops.batched_nms(boxes, ...)``
in a detection head, ``self.box_roi_pool(features, proposals)`` on a submodule its constructor was
handed) has no call in its own file to take its parameters' values from, and its annotations say
no more than ``Tensor``. :class:`~export_lint.analysis.roots.Reach` records those calls
(``Reach.callers``); here each calling file is analysed as its own lint would analyse it (what the
roots reach there, ``self.training`` false), and the values of a call's arguments, where that call
was evaluated, become the callee's entry values (joined over the calls: must-facts only). Calls
in code no analysed path runs (under ``if self.training:``) pass nothing. One level only: the
calling file's own functions get no values from the files calling them in turn.

Calling files are read as text (their results are cached against their whole text, through
``external.record_text_read``) and analysed once per process and target torch.
"""

from __future__ import annotations

import functools
import os

import libcst as cst

from export_lint.analysis import external
from export_lint.analysis.roots import CALLER_MAX_BYTES
from export_lint.analysis.semantic import SemanticModel
from export_lint.analysis.values.lattice import Value
from export_lint.source import decode_source, read_source_file
from export_lint.traversal import descendants

#: Calling files larger than this are not analysed (``Reach`` records none of their calls).
MAX_BYTES = CALLER_MAX_BYTES
#: Calls of one function followed at most.
MAX_SITES = 8

Argument = tuple[str | None, Value]


def _module_name(path: str, project: str) -> str:
    parts = os.path.abspath(path).split(os.sep)
    for marker in ("site-packages", "dist-packages"):
        if marker in parts:
            parts = parts[parts.index(marker) + 1 :]
            break
    else:
        parts = os.path.relpath(os.path.abspath(path), os.path.abspath(project)).split(os.sep)
    parts[-1] = parts[-1][:-3] if parts[-1].endswith(".py") else parts[-1]
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(part for part in parts if part and part != "..")


@functools.lru_cache(maxsize=32)
def _parsed(path: str, project: str, version: tuple[int, int, int] | None) -> tuple[cst.Module, str] | None:
    try:
        if os.path.getsize(path) > MAX_BYTES:
            return None
        text = decode_source(read_source_file(path))[0]
        return cst.parse_module(text), text
    except (OSError, SyntaxError, ValueError, RecursionError, MemoryError, cst.ParserSyntaxError):
        return None


def _calling_program(path: str, reach, torch_version: str):
    """The analysed program of a calling file, as its own lint sees it (None: not analysable)."""
    from export_lint.analysis.values.program import FileProgram

    version = external.file_version(path)
    parsed = _parsed(path, reach.project, version)
    if parsed is None:
        return None
    module, text = parsed
    key = (path, version, torch_version)
    stored = _PROGRAMS.get(key)
    if stored is not None and stored[0] is reach:
        found = stored[1]
    else:
        semantic = SemanticModel(
            module,
            path,
            _module_name(path, reach.project),
            text=text,
            reached=reach.for_file(path),
            reach=reach,
        )
        found = FileProgram(semantic, torch_version, callers=False)
        if len(_PROGRAMS) >= 32:
            _PROGRAMS.clear()
        _PROGRAMS[key] = (reach, found)
    external.record_text_read(path)
    return found


#: (path, its version, target torch) -> (the reach it was analysed with, its program).
_PROGRAMS: dict[tuple, tuple] = {}


def _call_at(function: cst.FunctionDef, name: str, occurrence: int) -> cst.Call | None:
    count = 0
    for node in descendants(function):
        if type(node) is not cst.Call:
            continue
        func = node.func
        last = func.value if type(func) is cst.Name else func.attr.value if type(func) is cst.Attribute else None
        if last != name:
            continue
        if count == occurrence:
            return node
        count += 1
    return None


def passed_arguments(reach, sites, torch_version: str) -> list[tuple[list[Argument], bool]]:
    """For each call site (``Reach.callers``) that analysed code evaluates: the values it passes
    (keyword or None, value) and whether it unpacks ``*args``/``**kwargs``."""
    found: list[tuple[list[Argument], bool]] = []
    if len(sites) > MAX_SITES:
        return found
    for path, qualname, name, occurrence in sites:
        program = _calling_program(path, reach, torch_version)
        if program is None:
            return []  # a call whose arguments cannot be read: nothing is known for sure
        function = program.function_named(qualname)
        call = _call_at(function.node, name, occurrence) if function is not None else None
        if call is None:
            return []
        if id(call) not in program.record:
            continue  # never evaluated: dead code (``if self.training:``) passes nothing
        arguments: list[Argument] = []
        star = False
        for arg in call.args:
            if arg.star:
                star = True
                continue
            value = program.record.get(id(arg.value))
            if value is None:
                return []
            arguments.append((arg.keyword.value if arg.keyword is not None else None, value))
        found.append((arguments, star))
    return found
