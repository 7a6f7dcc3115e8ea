"""draft_export's suggested fixes as source edits: the ``apply_suggested_fixes`` torch does not implement.

A data-dependent failure says which expression over unbacked symbols (``u0 > 2``) could not be
decided and which value draft_export assumed; its frame's locals say which local name holds each
symbol (``n: ['u0']``). When every symbol has a local name and the file imports ``torch``, the fix
inserts ``torch._check(<the assumption>)`` before the failing line, which is what torch's report
asks the user to write. The insertion is kept only if the edited file still compiles.
"""

from __future__ import annotations

import re

_IMPORTS_TORCH = re.compile(r"^import torch\s*$|^import torch\s*(?:#.*)?$|^import torch,", re.MULTILINE)
_NOT_BEFORE = re.compile(r"^\s*(?:elif|else|except|finally|case)\b")


def _python_condition(expr: str, result: str, names: dict[str, str]) -> str | None:
    """The assumption draft_export made, as Python over the frame's local names (None if it cannot)."""
    import sympy
    from torch.utils._sympy.printers import PythonPrinter

    try:
        parsed = sympy.sympify(expr)
    except (sympy.SympifyError, SyntaxError, TypeError, ValueError):
        return None
    symbols = {str(symbol) for symbol in parsed.free_symbols}
    if not symbols or not symbols <= set(names):
        return None
    parsed = parsed.subs({sympy.Symbol(symbol): sympy.Symbol(names[symbol]) for symbol in symbols})
    if result == "False":
        parsed = sympy.Not(parsed)
    elif result != "True":
        return None
    text = PythonPrinter().doprint(parsed)
    return text if "math." not in text and "sympy" not in text else None


def _local_names(data: dict) -> dict[str, str]:
    """{symbol: local name} for locals that are exactly one symbol (``n: ['u0']``)."""
    names: dict[str, str] = {}
    local_values = (data.get("frame_locals") or {}).get("locals") or {}
    for name, values in local_values.items():
        if isinstance(values, list) and len(values) == 1 and re.fullmatch(r"[uz]\w*\d+|s\d+", str(values[0])):
            names.setdefault(str(values[0]), name)
    return names


def check_insertion(path: str, line: int, data: dict) -> dict | None:
    """A ``torch._check(...)`` inserted before ``line`` of ``path``, or None when none is sound."""
    condition = _python_condition(str(data.get("expr")), str(data.get("result")), _local_names(data))
    if condition is None:
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError):
        return None
    lines = text.splitlines(keepends=True)
    if not (1 <= line <= len(lines)) or _NOT_BEFORE.match(lines[line - 1]) or not _IMPORTS_TORCH.search(text):
        return None
    target = lines[line - 1]
    indent = target[: len(target) - len(target.lstrip())]
    insertion = f"{indent}torch._check({condition})\n"
    edited = "".join([*lines[: line - 1], insertion, *lines[line - 1 :]])
    try:
        compile(edited, path, "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return None
    return {
        "message": f"Assert draft_export's assumption: insert `torch._check({condition})`",
        "insert_before_line": line,
        "text": insertion,
    }
