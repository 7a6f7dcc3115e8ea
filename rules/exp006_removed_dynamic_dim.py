"""## What it does
Finds imports and calls of `torch.export.dynamic_dim` (also `torch._export.dynamic_dim`).

## Why is this bad?
`dynamic_dim` built the `constraints=` of the first torch.export API. It was deprecated with
`constraints=` (removed in torch 2.3) and deleted in torch 2.5 (present in the 2.4.0 wheel, absent
from 2.5.0). Measured on torch 2.14.1 (`scripts/measure_side_effects.py`):

    ImportError: cannot import name 'dynamic_dim' from 'torch.export'
    AttributeError: module 'torch.export' has no attribute 'dynamic_dim'

## Example
```python
from torch.export import dynamic_dim

constraints = [dynamic_dim(x, 0) >= 2]
```

## Use instead
```python
batch = torch.export.Dim("batch", min=2)
ep = torch.export.export(model, (x,), dynamic_shapes=({0: batch},))
```

## Fix safety
Safe: the fix only removes an import of `dynamic_dim` that nothing uses (for example after EXP005
rewrote the `constraints=` it built). Other uses are reported without a fix: the `Dim` they need
belongs in the export call's `dynamic_shapes=`, which may be far from the `dynamic_dim` call.
Calls inside an export call's `constraints=` are left to EXP005, which rewrites them.

## References
- torch.export docs, "Expressing Dynamism": https://pytorch.org/docs/stable/export.html
"""

from __future__ import annotations

import libcst as cst

from export_lint.api_migration import report_removed_imports
from export_lint.diagnostics import Applicability
from export_lint.rule import Invalid, Rule, Valid

DYNAMIC_DIM = frozenset(
    {"torch.export.dynamic_dim", "torch._export.dynamic_dim", "torch.export.dynamic_shapes.dynamic_dim"}
)


class RemovedDynamicDim(Rule):
    """`torch.export.dynamic_dim` is gone since torch 2.5."""

    code = "EXP006"
    requires = ("dynamic_dim",)
    name = "removed-dynamic-dim"
    message = "`{api}` was removed in torch 2.5: declare dynamic dims with `torch.export.Dim` in `dynamic_shapes=`"
    torch_versions = ">=2.5"
    fix_applicability = Applicability.SAFE

    VALID = [
        Valid(
            """
            import torch
            from torch.export import Dim

            batch = Dim("batch", min=2)
            torch.export.export(torch.nn.Linear(3, 3), (torch.randn(4, 3),), dynamic_shapes=({0: batch},))
            """
        ),
    ]
    INVALID = [
        Invalid(
            """
            import torch
            from torch.export import dynamic_dim

            x = torch.randn(4, 3)
            constraints = [dynamic_dim(x, 0) >= 2]
            """,
            count=2,
        ),
        Invalid(
            """
            import torch
            from torch.export import Dim, dynamic_dim

            batch = Dim("batch", min=2)
            torch.export.export(torch.nn.Linear(3, 3), (torch.randn(4, 3),), dynamic_shapes=({0: batch},))
            """,
            after="""
            import torch
            from torch.export import Dim

            batch = Dim("batch", min=2)
            torch.export.export(torch.nn.Linear(3, 3), (torch.randn(4, 3),), dynamic_shapes=({0: batch},))
            """,
        ),
        Invalid(
            """
            import torch

            x = torch.randn(4, 3)
            dims = [torch.export.dynamic_dim(x, 0)]
            """
        ),
    ]

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        report_removed_imports(self, node, DYNAMIC_DIM, self.semantic.stack)

    def visit_Call(self, node: cst.Call) -> None:
        api = self.semantic.qualified_name(node.func)
        if api in DYNAMIC_DIM and not self._inside_export_constraints():
            self.report(node, api=api)

    def _inside_export_constraints(self) -> bool:
        stack = self.semantic.stack
        for depth in range(len(stack) - 1, 0, -1):
            node, parent = stack[depth], stack[depth - 1]
            if (
                isinstance(node, cst.Arg)
                and node.keyword is not None
                and node.keyword.value == "constraints"
                and isinstance(parent, cst.Call)
                and self.semantic.is_export_call(parent, stack[:depth])
            ):
                return True
        return False
