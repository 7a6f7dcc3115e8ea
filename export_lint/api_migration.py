"""Helpers for rules that migrate removed torch.export APIs: imports of a removed name, its uses,
and the edits that drop an import once nothing refers to it.
"""

from __future__ import annotations

import libcst as cst

from export_lint.analysis.semantic import dotted_name
from export_lint.diagnostics import Edit
from export_lint.rule import RuleContext
from export_lint.traversal import visit


def imported_qualified_name(node: cst.ImportFrom, alias: cst.ImportAlias) -> str | None:
    """``torch.export.dynamic_dim`` for ``from torch.export import dynamic_dim`` (absolute imports only)."""
    if node.relative or node.module is None:
        return None
    module = dotted_name(node.module)
    name = dotted_name(alias.name)
    return f"{module}.{name}" if module and name else None


def local_name(alias: cst.ImportAlias) -> str:
    if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
        return alias.asname.name.value
    return dotted_name(alias.name) or ""


def references(module: cst.Module, name: str) -> int:
    """How many times ``name`` is read as a bare name outside import statements."""
    count = 0

    class _Names(cst.CSTVisitor):
        def visit_Import(self, node: cst.Import) -> bool:
            return False

        def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
            return False

        def visit_Attribute(self, node: cst.Attribute) -> bool:
            visit(node.value, self)  # `x.name` does not read `name`
            return False

        def visit_Arg(self, node: cst.Arg) -> bool:
            visit(node.value, self)  # a keyword `name=` does not read `name`
            return False

        def visit_Name(self, node: cst.Name) -> None:
            nonlocal count
            count += node.value == name

    visit(module, _Names())
    return count


def remove_import_alias(
    context: RuleContext, statement: cst.SimpleStatementLine, node: cst.ImportFrom, alias: cst.ImportAlias
) -> Edit | None:
    """Drop one name from a ``from x import a, b`` line, or the whole line when it is the only name."""
    if isinstance(node.names, cst.ImportStar):
        return None
    if len(node.names) == 1:
        if len(statement.body) != 1:
            return None
        start, end = context.span(statement)
        line_start = context.lines.line_start(start)
        newline_at = context.text.find("\n", end)
        return Edit(line_start, len(context.text) if newline_at == -1 else newline_at + 1, "")
    kept = [other for other in node.names if other is not alias]
    render = cst.Module(body=[]).code_for_node
    text = ", ".join(render(other.with_changes(comma=cst.MaybeSentinel.DEFAULT)) for other in kept)
    first_start, _ = context.span(node.names[0])
    _, last_end = context.span(node.names[-1])
    return Edit(first_start, last_end, text)


def torch_module_name(context: RuleContext, at: cst.CSTNode) -> tuple[str, Edit | None]:
    """The local name of ``torch`` bound where ``at`` runs and, when there is none, the edit adding
    ``import torch``."""
    alias = context.torch_alias(at=at)
    if alias is not None:
        return alias, None
    return "torch", context.module_import_edit("import torch")


def report_removed_imports(rule, node: cst.ImportFrom, removed: frozenset[str], stack: list[cst.CSTNode]) -> None:
    """Report each ``from ... import <removed>`` alias; drop the import once nothing reads the name."""
    if isinstance(node.names, cst.ImportStar):
        return
    statement = stack[-2] if len(stack) >= 2 and isinstance(stack[-2], cst.SimpleStatementLine) else None
    for alias in node.names:
        qualified = imported_qualified_name(node, alias)
        if qualified not in removed:
            continue
        fix = None
        if statement is not None and references(rule.context.module, local_name(alias)) == 0:
            edit = remove_import_alias(rule.context, statement, node, alias)
            if edit is not None:
                fix = rule.fix(f"Remove the import of `{qualified}`", edit)
        rule.report(alias, fix, api=qualified)
