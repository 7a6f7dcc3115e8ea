"""## What it does
Finds imports and calls of `torch.export.export_for_training` and rewrites the calls to
`torch.export.export`.

## Why is this bad?
`export_for_training` (added in torch 2.5) became an alias of `export` once `export` produced the
same training IR (torch 2.6), was deprecated in 2.9 ("is deprecated and will be removed in PyTorch
2.10 ... use `torch.export.export` instead, which is functionally equivalent") and is absent from
the 2.11.0 wheel (still present in 2.10.0). Measured on torch 2.14.1
(`scripts/measure_side_effects.py`):

    AttributeError: module 'torch.export' has no attribute 'export_for_training'
    ImportError: cannot import name 'export_for_training' from 'torch.export'

## Example
```python
ep = torch.export.export_for_training(model, (x,))
```

## Use instead
```python
ep = torch.export.export(model, (x,))
```

## Fix safety
Safe: torch's own deprecation notice calls the two functionally equivalent, and both default to
`strict=False` since torch 2.8/2.9. The fix adds `import torch` when the file lacks it and drops the
import of `export_for_training` once no call is left.

## References
- torch.export docs: https://pytorch.org/docs/stable/export.html
"""

from __future__ import annotations

import libcst as cst

from export_lint.api_migration import report_removed_imports, torch_module_name
from export_lint.diagnostics import Applicability
from export_lint.rule import Invalid, Rule, Valid

_REMOVED = frozenset({"torch.export.export_for_training"})


class RemovedExportForTraining(Rule):
    """`torch.export.export_for_training` is gone since torch 2.11."""

    code = "EXP007"
    requires = ("export_for_training",)
    name = "removed-export-for-training"
    message = "`{api}` was removed in torch 2.11: call `torch.export.export`, which is equivalent"
    torch_versions = ">=2.11"
    fix_applicability = Applicability.SAFE

    VALID = [
        Valid(
            """
            import torch

            ep = torch.export.export(torch.nn.Linear(3, 3), (torch.randn(2, 3),))
            """
        ),
    ]
    INVALID = [
        Invalid(
            """
            import torch

            ep = torch.export.export_for_training(torch.nn.Linear(3, 3), (torch.randn(2, 3),))
            ep.module()(torch.randn(2, 3))
            """,
            after="""
            import torch

            ep = torch.export.export(torch.nn.Linear(3, 3), (torch.randn(2, 3),))
            ep.module()(torch.randn(2, 3))
            """,
            requires_torch=">=2.5",
        ),
        Invalid(
            """
            from torch import nn, randn
            from torch.export import export_for_training as capture

            ep = capture(nn.Linear(3, 3), (randn(2, 3),), strict=False)
            """,
            after="""
            from torch import nn, randn
            import torch

            ep = torch.export.export(nn.Linear(3, 3), (randn(2, 3),), strict=False)
            """,
            count=2,
            requires_torch=">=2.5",
        ),
    ]

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        report_removed_imports(self, node, _REMOVED, self.semantic.stack)

    def visit_Call(self, node: cst.Call) -> None:
        api = self.semantic.qualified_name(node.func)
        if api not in _REMOVED:
            return
        torch_name, import_edit = torch_module_name(self.context, node)
        call_edit = self.context.replace(node.func, f"{torch_name}.export.export")
        self.report(node, self.fix("Call `torch.export.export`", import_edit, call_edit), api=api)
