"""torch's ``Suggested fixes:`` for a ``dynamic_shapes`` spec, as an edit of the ``Dim(...)`` literal.

A constraint violation (``Constraints violated (batch)!``) ends with the spec torch would accept:
``batch = Dim('batch', min=5)`` (a range the code needs) or ``batch = 8`` (the code specialized the
dim). Where the user's file builds that Dim with a literal call (``Dim("batch")``,
``torch.export.Dim("batch", max=64)``), the call is replaced by the suggestion, spelled with the
user's own callee; an int suggestion replaces the call by the int (a static dim). Found with
``ast``; the edit is kept only when the edited file still compiles.
"""

from __future__ import annotations

import ast
import re

from export_lint.verify.suggestions import column_of, compiles_with

_SUGGESTED = re.compile(r"^Suggested fixes:\s*$", re.MULTILINE)
_ASSIGNMENT = re.compile(r"^\s+([A-Za-z_]\w*) = (.+?)\s*$")
_DIM_CALL = re.compile(r"^Dim\((['\"])([A-Za-z_]\w*)\1(?:, *[a-z_]+=-?\d+)*\)$")


def suggested_specs(message: str) -> dict[str, str]:
    """{dim name: replacement} from the ``Suggested fixes:`` block of a torch.export error."""
    found = _SUGGESTED.search(message)
    if found is None:
        return {}
    specs: dict[str, str] = {}
    for line in message[found.end() :].splitlines()[1:]:
        match = _ASSIGNMENT.match(line)
        if match is None:
            if line.strip():
                break
            continue
        name, value = match.groups()
        dim = _DIM_CALL.match(value)
        if (dim is not None and dim.group(2) == name) or re.fullmatch(r"\d+", value):
            specs[name] = value
    return specs


def _callee(node: ast.Call) -> str | None:
    parts = []
    func: ast.expr = node.func
    while isinstance(func, ast.Attribute):
        parts.append(func.attr)
        func = func.value
    if not isinstance(func, ast.Name):
        return None
    parts.append(func.id)
    return ".".join(reversed(parts))


def _replacement(suggestion: str, callee: str, name_source: str) -> str:
    """torch's suggestion spelled as the user wrote the call: their callee and quotes, torch's bounds."""
    if suggestion.isdigit():
        return suggestion
    call = ast.parse(suggestion, mode="eval").body
    assert isinstance(call, ast.Call)
    keywords = "".join(f", {keyword.arg}={ast.unparse(keyword.value)}" for keyword in call.keywords)
    return f"{callee}({name_source}{keywords})"


def spec_edits(path: str, message: str) -> dict | None:
    """The fix (``{"message", "edits"}``, see ``suggestions``) that writes torch's suggested spec into
    the ``Dim(...)`` literals of ``path``; None when there is no suggestion or no literal to edit."""
    specs = suggested_specs(message)
    if not specs:
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        tree = ast.parse(text)
    except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
        return None
    lines = text.splitlines(keepends=True)
    edits, described = [], []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or node.lineno != node.end_lineno:
            continue
        callee = _callee(node)
        if callee is None or callee.rsplit(".", 1)[-1] != "Dim" or not node.args:
            continue
        first = node.args[0]
        if not (isinstance(first, ast.Constant) and isinstance(first.value, str) and first.value in specs):
            continue
        replacement = _replacement(specs[first.value], callee, ast.get_source_segment(text, first) or repr(first.value))
        line = lines[node.lineno - 1]
        start, end = column_of(line, node.col_offset), column_of(line, node.end_col_offset or node.col_offset)
        edits.append(
            {"line": node.lineno, "column": start, "end_line": node.lineno, "end_column": end, "text": replacement}
        )
        described.append(f"`{replacement}`")
    fix = {"message": f"Write torch's suggested dynamic_shapes: {', '.join(dict.fromkeys(described))}", "edits": edits}
    return fix if edits and compiles_with(text, path, fix) else None
