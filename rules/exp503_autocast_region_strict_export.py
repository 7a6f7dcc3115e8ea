"""## What it does
Finds `torch.autocast(...)` / `torch.amp.autocast(...)` regions (not `enabled=False`) in traced
code. In preview: it only matters for strict export.

## Why is this bad?
Measured on torch 2.14.1 (`scripts/measure_side_effects.py`, `torch.autocast in forward`): with
`strict=True`, a forward that computes under autocast and then keeps computing on the result
(`y.float() + 1`) exports without an error, but the exported program is wrong about dtypes:

    ep.module()(x)          RuntimeError: Tensor dtype mismatch! Expected: Float, Got: c10::BFloat16
    ep.run_decompositions() AssertionError: Tensor dtype mismatch! Expected: torch.float32, Got: torch.bfloat16

The matrix (docs/torch-versions.md) finds the wrong dtypes from torch 2.8 on: 2.5.1 to 2.7.1 export
and run the same forward correctly (torch 2.4.1's strict export rejects every autocast region, even
`enabled=False`, with `SpecViolationError: Node.meta _enter_autocast is missing val field`), hence
the gate `>=2.8`. Non-strict export (the default since torch 2.8) handles the same forward correctly, and
`torch.autocast(..., enabled=False)` regions export fine in both modes; the rule cannot see which
mode the caller uses, hence preview.

## Example
```python
class Model(torch.nn.Module):
    def forward(self, x):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = self.lin(x)
        return y.float() + 1

torch.export.export(Model(), (x,), strict=True)
```

## Use instead
Export non-strict (the default since torch 2.8), or cast explicitly instead of autocasting
(`self.lin.to(torch.bfloat16)(x.to(torch.bfloat16))`).

## Fix safety
No automatic fix.

## References
- torch.export docs, "Strict vs non-strict": https://pytorch.org/docs/stable/export.html
"""

from __future__ import annotations

import libcst as cst

from export_lint.analysis.torch_names import AUTOCAST_CONTEXTS
from export_lint.rule import Invalid, Rule, Valid


class AutocastRegionStrictExport(Rule):
    """An autocast region in traced code (wrong dtypes after strict export)."""

    code = "EXP503"
    requires = ("class", "autocast")
    traced_only = True
    name = "autocast-region-strict-export"
    message = "Autocast region in traced code: strict export produces a program that fails with a dtype mismatch"
    torch_versions = ">=2.8"
    preview = True

    VALID = [
        Valid(
            """
            import torch


            class Model(torch.nn.Module):
                def __init__(self):
                    super().__init__()
                    self.lin = torch.nn.Linear(3, 3)

                def forward(self, x):
                    with torch.autocast("cpu", enabled=False):
                        y = self.lin(x)
                    return y + 1


            x = torch.randn(2, 3)
            torch.export.export(Model(), (x,), strict=True).module()(x)
            """,
            # torch 2.4's strict export rejects every autocast region, `enabled=False` too
            # (`SpecViolationError: Node.meta _enter_autocast is missing val field`).
            requires_torch=">=2.5",
        ),
    ]
    INVALID = [
        Invalid(
            """
            import torch


            class Model(torch.nn.Module):
                def __init__(self):
                    super().__init__()
                    self.lin = torch.nn.Linear(3, 3)

                def forward(self, x):
                    with torch.autocast("cpu", dtype=torch.bfloat16):
                        y = self.lin(x)
                    return y.float() + 1


            x = torch.randn(2, 3)
            torch.export.export(Model(), (x,), strict=True).module()(x)
            """,
            # torch 2.4's strict export rejects every autocast region, `enabled=False` too
            # (`SpecViolationError: Node.meta _enter_autocast is missing val field`).
            requires_torch=">=2.5",
        ),
    ]

    def visit_WithItem(self, node: cst.WithItem) -> None:
        call = node.item
        if not isinstance(call, cst.Call) or self.semantic.qualified_name(call.func) not in AUTOCAST_CONTEXTS:
            return
        for arg in call.args:
            if arg.keyword is not None and arg.keyword.value == "enabled":
                if isinstance(arg.value, cst.Name) and arg.value.value == "True":
                    break
                return  # disabled, or decided at run time
        if self.semantic.in_traced_code():
            self.report(call)
