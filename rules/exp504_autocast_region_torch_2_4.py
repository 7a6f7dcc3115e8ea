"""## What it does
Finds `torch.autocast(...)` / `torch.amp.autocast(...)` regions in traced code that is exported in
strict mode (`strict=True`, the default before torch 2.8), when the target torch is 2.4.

## Why is this bad?
torch 2.4's strict export rejects every autocast region, even `enabled=False`. Measured by the
torch matrix (`scripts/torch_matrix.py`, docs/torch-versions.md) on torch 2.4.1:

    torch._export.verifier.SpecViolationError: Node.meta _enter_autocast is missing val field.

torch 2.5 and later export the same regions (EXP503 covers the wrong dtypes strict export gives
them from 2.8 on). Code exported with `strict=False` is not reported: non-strict export does not
record the region as a graph node.

## Example
```python
class Model(torch.nn.Module):
    def forward(self, x):
        with torch.autocast("cpu", enabled=False):
            y = self.lin(x)
        return y + 1

torch.export.export(Model(), (x,))  # strict on torch 2.4
```

## Use instead
Export non-strict (`torch.export.export(..., strict=False)`), or drop the region from the traced
code (cast explicitly: `self.lin(x.float())`).

## Fix safety
No automatic fix: the region is in `forward`, the mode is chosen at the export call.

## References
- torch.export docs, "Strict vs non-strict": https://pytorch.org/docs/stable/export.html
"""

from __future__ import annotations

import libcst as cst

from export_lint.analysis.torch_names import AUTOCAST_CONTEXTS
from export_lint.analysis.values import queries
from export_lint.rule import Invalid, Rule, Valid

_MODEL = """
import torch


class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(3, 3)

    def forward(self, x):
        with {region}:
            y = self.lin(x)
        return y.float() + 1


x = torch.randn(2, 3)
torch.export.export(Model(), (x,){mode}).module()(x)
"""


class AutocastRegionTorch24(Rule):
    """An autocast region in strictly exported code (torch 2.4 rejects every one)."""

    code = "EXP504"
    requires = ("class", "autocast")
    traced_only = True
    name = "autocast-region-strict-export-torch-2-4"
    message = "Autocast region in strictly exported code: torch 2.4's strict export rejects every autocast region"
    torch_versions = "<2.5"

    VALID = [
        Valid(_MODEL.format(region='torch.autocast("cpu", enabled=False)', mode=", strict=False"), torch_version="2.4"),
    ]
    INVALID = [
        Invalid(_MODEL.format(region='torch.autocast("cpu", enabled=False)', mode=""), torch_version="2.4"),
        Invalid(
            _MODEL.format(region='torch.amp.autocast("cpu", enabled=False)', mode=", strict=True"),
            torch_version="2.4",
        ),
    ]

    def visit_WithItem(self, node: cst.WithItem) -> None:
        call = node.item
        if not isinstance(call, cst.Call) or self.semantic.qualified_name(call.func) not in AUTOCAST_CONTEXTS:
            return
        if self.semantic.in_traced_code() and not queries.traced_non_strict(self.semantic, self.context.torch_version):
            self.report(call)
