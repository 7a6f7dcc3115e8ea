"""## What it does
Finds traced code that updates a module-level global from its own value (`global STEP;
STEP += 1`, `STEP = STEP + 1`). Plain assignments (`global KERNEL; KERNEL = load()`, the
load-once pattern) reach the same value on every call and are not reported.

## Why is this bad?
torch.export runs `forward` once while tracing: the global is updated once, at export time, and
the value read at that moment is baked into the program as a constant. Measured on torch 2.14.1,
strict and non-strict (`scripts/measure_side_effects.py`): both export without an error; the
exported module's second call returns what eager's first call returned, and the global no longer
changes when the exported program runs. Nothing warns.

Updates that only run in training (under `if self.training:` or in a helper called only there) are
not reported: an exported inference model does not run them.

## Example
```python
STEP = 0

class Model(torch.nn.Module):
    def forward(self, x):
        global STEP
        STEP += 1
        return x * STEP
```

## Use instead
Keep state the program must update in a registered buffer (updated in place), or pass it in as an
input and return the new value.

## Fix safety
No automatic fix: where the state should live is a design decision.

## References
- torch.export docs, "Tracing: Python values are specialized": https://pytorch.org/docs/stable/export.html
"""

from __future__ import annotations

import libcst as cst

from export_lint.analysis.module_state import mentions_name, training_only, under_training_branch
from export_lint.analysis.semantic import assigned_names
from export_lint.rule import Invalid, Rule, Valid
from export_lint.traversal import visit


class GlobalStateUpdatedInForward(Rule):
    """Traced code assigns a `global` name."""

    code = "EXP206"
    requires = ("class", "global")
    traced_only = True
    name = "global-state-updated-in-forward"
    message = (
        "Global `{name}` is updated in traced code: export runs this once and bakes the value; the exported "
        "program never updates it"
    )

    VALID = [
        Valid(
            """
            import torch

            SCALE = 2.0


            class Model(torch.nn.Module):
                def forward(self, x):
                    scale = SCALE
                    scale += 1
                    return x * scale


            eager, exported = Model(), torch.export.export(Model(), (torch.randn(3),)).module()
            x = torch.randn(3)
            for _ in range(2):
                assert torch.allclose(exported(x), eager(x))
            """
        ),
        Valid(
            """
            import torch

            CALLS = 0


            def count_calls():
                global CALLS
                CALLS += 1


            class Model(torch.nn.Module):
                def forward(self, x):
                    return x * 2


            count_calls()
            torch.export.export(Model(), (torch.randn(3),))
            """
        ),
    ]
    INVALID = [
        Invalid(
            """
            import torch

            STEP = 0


            class Model(torch.nn.Module):
                def forward(self, x):
                    global STEP
                    STEP += 1
                    return x * STEP


            exported = torch.export.export(Model(), (torch.randn(3),)).module()
            STEP = 0
            eager = Model()
            x = torch.randn(3)
            for _ in range(2):
                assert torch.allclose(exported(x), eager(x)), "the exported program baked STEP"
            """
        ),
    ]

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        if not self.semantic.is_traced(node):
            return
        declared = _global_names(node)
        if not declared or training_only(self.semantic):
            return
        for statement, names in _assignments(node):
            for name in names:
                if name in declared and _updates_from_itself(statement, name):
                    self.report(statement, name=name)


def _global_names(function: cst.FunctionDef) -> set[str]:
    names: set[str] = set()

    class _Globals(cst.CSTVisitor):
        def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
            return node is function

        def visit_Global(self, node: cst.Global) -> None:
            names.update(item.name.value for item in node.names)

    visit(function, _Globals())
    return names


def _assignments(function: cst.FunctionDef) -> list[tuple[cst.CSTNode, list[str]]]:
    """Assignments in the function's own body (not nested functions), skipping `if x.training:` bodies."""
    found: list[tuple[cst.CSTNode, list[str]]] = []
    stack: list[cst.CSTNode] = []

    class _Assignments(cst.CSTVisitor):
        def on_visit(self, node: cst.CSTNode) -> bool:
            stack.append(node)  # on_leave runs even when children are skipped
            if isinstance(node, (cst.FunctionDef, cst.Lambda, cst.ClassDef)) and node is not function:
                return False
            if not under_training_branch(stack):
                if isinstance(node, cst.Assign):
                    found.append((node, [n for t in node.targets for n in assigned_names(t.target)]))
                elif isinstance(node, (cst.AugAssign, cst.AnnAssign)):
                    found.append((node, list(assigned_names(node.target))))
            return True

        def on_leave(self, original_node: cst.CSTNode) -> None:
            stack.pop()

    visit(function, _Assignments())
    return found


def _updates_from_itself(statement: cst.CSTNode, name: str) -> bool:
    if isinstance(statement, cst.AugAssign):
        return True
    value = getattr(statement, "value", None)
    return value is not None and mentions_name(value, name)
