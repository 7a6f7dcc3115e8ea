"""Decorator wrappers: the closure a decorator returns (``@wraps(func) def wrapper(...)``) is not where a failure is.

Libraries wrap ``forward`` in decorators (transformers' ``can_return_tuple``, ``deprecate_kwarg``);
a failure whose innermost frame outside torch is such a wrapper belongs to the model's own code,
so ``locate`` passes over these frames. A wrapper is a function defined directly in another
function's body and returned by it; found from the file's source (``ast``), never by importing it.
"""

from __future__ import annotations

import ast
import functools
import linecache


@functools.lru_cache(maxsize=512)
def wrapper_spans(path: str) -> tuple[tuple[int, int], ...]:
    """(first line, last line) of each function in ``path`` that its enclosing function returns."""
    text = "".join(linecache.getlines(path))
    if not text:
        return ()
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return ()
    spans = []
    for outer in ast.walk(tree):
        if not isinstance(outer, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        returned = {
            node.value.id
            for node in ast.walk(outer)
            if isinstance(node, ast.Return) and isinstance(node.value, ast.Name)
        }
        for inner in outer.body:
            if isinstance(inner, (ast.FunctionDef, ast.AsyncFunctionDef)) and inner.name in returned:
                first = min([inner.lineno, *(d.lineno for d in inner.decorator_list)])
                spans.append((first, inner.end_lineno or inner.lineno))
    return tuple(sorted(spans))


def is_wrapper_frame(path: str, line: int) -> bool:
    """Whether ``path:line`` is inside a decorator's wrapper function."""
    return any(first <= line <= last for first, last in wrapper_spans(path))
