"""draft_export's suggested fixes as source edits: the ``apply_suggested_fixes`` torch does not implement.

A data-dependent failure says which expression over unbacked symbols (``u0 > 2``) could not be
decided and which value draft_export assumed; its frame's locals say which local name holds each
symbol (``n: ['u0']``). When every symbol has a local name and the file imports ``torch``, the fix
inserts ``torch._check(<the assumption>)`` before the failing line, which is what torch's report
asks the user to write. When the one symbol has no name (``if x.nonzero().shape[0] > 2:``) and the
line holds exactly one expression that makes a data-dependent scalar (``.item()``, ``.tolist()``,
``int(...)``/``float(...)``/``bool(...)``, ``.shape[i]``/``.size(i)`` of a call's result), that
expression is bound to a fresh local first, and the check is on the local (checking the
expression again would check a new symbol, not the one the line uses). A fix is kept only if the
edited file still compiles.

A fix is ``{"message": str, "edits": [{"line", "column", "end_line", "end_column", "text"}]}``:
1-based lines and character columns; an insertion has equal start and end.
"""

from __future__ import annotations

import ast
import re

from export_lint.diagnostics import Edit, LineIndex, apply_edits

_IMPORTS_TORCH = re.compile(r"^import torch\s*$|^import torch\s*(?:#.*)?$|^import torch,", re.MULTILINE)
_NOT_BEFORE = re.compile(r"^\s*(?:elif|else|except|finally|case)\b")
_SCALAR_CALLS = frozenset({"int", "float", "bool"})
_SCALAR_METHODS = frozenset({"item", "tolist"})


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


def _symbols(expr: str) -> set[str]:
    import sympy

    try:
        return {str(symbol) for symbol in sympy.sympify(expr).free_symbols}
    except (sympy.SympifyError, SyntaxError, TypeError, ValueError):
        return set()


def _local_names(data: dict) -> dict[str, str]:
    """{symbol: local name} for locals that are exactly one symbol (``n: ['u0']``)."""
    names: dict[str, str] = {}
    local_values = (data.get("frame_locals") or {}).get("locals") or {}
    for name, values in local_values.items():
        if isinstance(values, list) and len(values) == 1 and re.fullmatch(r"[uz]\w*\d+|s\d+", str(values[0])):
            names.setdefault(str(values[0]), name)
    return names


def _makes_scalar(node: ast.AST) -> bool:
    """An expression whose value is a data-dependent Python scalar when traced."""
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Name) and func.id in _SCALAR_CALLS and len(node.args) == 1:
            return True
        if isinstance(func, ast.Attribute) and func.attr in _SCALAR_METHODS and not node.args:
            return True
        if isinstance(func, ast.Attribute) and func.attr == "size" and node.args and isinstance(func.value, ast.Call):
            return True
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute) and node.value.attr == "shape":
        return isinstance(node.value.value, ast.Call)
    return False


def _statement_at(tree: ast.Module, line: int) -> ast.stmt | None:
    found = None
    for node in ast.walk(tree):
        if isinstance(node, ast.stmt) and node.lineno == line:
            found = node if found is None or isinstance(found, ast.Module) else found
    return found


def _header(statement: ast.stmt) -> list[ast.expr]:
    """The expressions a statement evaluates on its first line (an ``if``'s test, not its body)."""
    if isinstance(statement, (ast.If, ast.While)):
        return [statement.test]
    if isinstance(statement, (ast.For, ast.AsyncFor)):
        return [statement.iter]
    if isinstance(statement, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Return, ast.Expr)):
        return [statement.value] if statement.value is not None else []
    if isinstance(statement, ast.Assert):
        return [statement.test]
    return []


def _fresh_name(tree: ast.Module, base: str) -> str:
    """``base``, or ``base_2``, ... : a name the module's code does not use."""
    taken: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            taken.add(node.id)
        elif isinstance(node, ast.arg):
            taken.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            taken.add(node.name)
        elif isinstance(node, ast.alias):
            taken.add((node.asname or node.name).split(".")[0])
    name, number = base, 1
    while name in taken:
        number += 1
        name = f"{base}_{number}"
    return name


def column_of(line: str, byte_offset: int) -> int:
    """1-based character column of ast's UTF-8 byte offset in ``line``."""
    return len(line.encode("utf-8")[:byte_offset].decode("utf-8", "replace")) + 1


def _binding(text: str, lines: list[str], line: int, data: dict, names: dict[str, str]) -> dict | None:
    """Bind the line's one data-dependent scalar expression to a fresh local, then check it."""
    unnamed = _symbols(str(data.get("expr"))) - set(names)
    if len(unnamed) != 1:
        return None
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return None
    statement = _statement_at(tree, line)
    if statement is None:
        return None
    candidates = [
        node
        for expr in _header(statement)
        for node in ast.walk(expr)
        if _makes_scalar(node) and node.lineno == line and node.end_lineno == line
    ]
    outermost = [c for c in candidates if not any(c is not o and c in ast.walk(o) for o in candidates)]
    if len(outermost) != 1:
        return None
    node = outermost[0]
    source = lines[line - 1]
    base = "size" if isinstance(node, ast.Subscript) or getattr(node.func, "attr", "") == "size" else "value"
    name = _fresh_name(tree, base)
    condition = _python_condition(str(data.get("expr")), str(data.get("result")), {**names, unnamed.pop(): name})
    if condition is None:
        return None
    indent = source[: len(source) - len(source.lstrip())]
    segment = ast.get_source_segment(text, node)
    start, end = column_of(source, node.col_offset), column_of(source, node.end_col_offset or node.col_offset)
    insertion = f"{indent}{name} = {segment}\n{indent}torch._check({condition})\n"
    return {
        "message": f"Bind `{segment}` to `{name}` and assert draft_export's assumption: `torch._check({condition})`",
        "edits": [
            {"line": line, "column": 1, "end_line": line, "end_column": 1, "text": insertion},
            {"line": line, "column": start, "end_line": line, "end_column": end, "text": name},
        ],
    }


def as_edits(text: str, suggestion: dict) -> list[Edit] | None:
    """A suggestion's edits as ``Edit`` objects on ``text`` (None when one lies past its end)."""
    index = LineIndex(text)
    edits = []
    for item in suggestion.get("edits", []):
        if max(item["line"], item["end_line"]) > len(index.line_starts):
            return None
        start = index.line_starts[item["line"] - 1] + item["column"] - 1
        end = index.line_starts[item["end_line"] - 1] + item["end_column"] - 1
        edits.append(Edit(start, end, item["text"], index.location(start), index.location(end)))
    return sorted(edits, key=lambda edit: edit.start)


def compiles_with(text: str, path: str, suggestion: dict) -> bool:
    """Whether ``text`` with the suggestion's edits applied still compiles."""
    edits = as_edits(text, suggestion)
    if not edits:
        return False
    try:
        compile(apply_edits(text, edits), path, "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return False
    return True


def check_insertion(path: str, line: int, data: dict) -> dict | None:
    """A ``torch._check(...)`` inserted before ``line`` of ``path`` (binding an unnamed value to a
    fresh local first when needed), or None when none is sound."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError):
        return None
    lines = text.splitlines(keepends=True)
    if not (1 <= line <= len(lines)) or _NOT_BEFORE.match(lines[line - 1]) or not _IMPORTS_TORCH.search(text):
        return None
    names = _local_names(data)
    condition = _python_condition(str(data.get("expr")), str(data.get("result")), names)
    if condition is not None:
        target = lines[line - 1]
        indent = target[: len(target) - len(target.lstrip())]
        insertion = f"{indent}torch._check({condition})\n"
        fix = {
            "message": f"Assert draft_export's assumption: insert `torch._check({condition})`",
            "edits": [{"line": line, "column": 1, "end_line": line, "end_column": 1, "text": insertion}],
        }
    else:
        fix = _binding(text, lines, line, data, names)
    return fix if fix is not None and compiles_with(text, path, fix) else None
