"""Conditions that say "export is tracing now": what they guard may not be what export runs.

``self.training`` is not among them: the value analysis reads it as ``False`` (export traces a
model in eval mode; EXP501 reports exports in training mode), so ``if self.training:`` bodies are
dead code there and ``if not self.training and x.sum() > 0:`` is still a data-dependent branch.
"""

from __future__ import annotations

import libcst as cst

from export_lint.analysis.semantic import SemanticModel, dotted_name
from export_lint.traversal import walk

#: Functions whose truth means "we are being traced/compiled": code guarded by them is not what
#: export runs, so rules stay silent under such a guard. Matched on the resolved name's last part.
COMPILE_GUARDS = frozenset(
    {
        "is_compiling",
        "is_exporting",
        "is_tracing",
        "is_scripting",
        "is_torchdynamo_compiling",
        "is_torchdynamo_exporting",
        "is_torch_fx_proxy",
        "is_fx_tracing",
        "is_dynamo_compiling",
    }
)


def _ignore(node: cst.CSTNode) -> None:
    return None


def mentions_compile_guard(semantic: SemanticModel, expr: cst.CSTNode) -> bool:
    """Whether an expression calls ``torch.compiler.is_compiling()``-style functions."""
    found = False

    def on_visit(node: cst.CSTNode) -> bool:
        nonlocal found
        if isinstance(node, cst.Call):
            name = semantic.qualified_name(node.func) or dotted_name(node.func) or ""
            found = found or name.rsplit(".", 1)[-1] in COMPILE_GUARDS
        return not found

    walk(expr, on_visit, _ignore)
    return found


def guarded_by_compile_check(semantic: SemanticModel, stack: list[cst.CSTNode] | None = None) -> bool:
    """Whether the current node lies under an ``if``/``while``/ternary whose test is a compile guard."""
    stack = semantic.stack if stack is None else stack
    for depth in range(len(stack) - 1, 0, -1):
        node = stack[depth]
        if isinstance(node, (cst.FunctionDef, cst.Lambda)):
            return False
        if isinstance(node, (cst.If, cst.While, cst.IfExp)) and mentions_compile_guard(semantic, node.test):
            return True
    return False
