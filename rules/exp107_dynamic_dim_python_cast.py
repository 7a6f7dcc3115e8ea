"""## What it does
Finds `int(...)`, `float(...)` and `math.sqrt(...)` applied to the size of a dim declared dynamic
(`int(x.shape[0])`, `float(b)`, `int(x.shape[0] / 2)`) in a module's `forward`, when that module
is exported in non-strict mode (`strict=False`, the default since torch 2.8).

## Why is this bad?
In non-strict mode a dynamic size is a `SymInt`; converting it to a Python `int` or `float`
specializes it to the example's value. Measured on torch 2.14.1 with an example batch of 8
(scripts/measure_control_flow.py):

| construct | strict=True | strict=False |
|---|---|---|
| `x * int(x.shape[0])`, `x * float(x.shape[0])`, `x * math.sqrt(x.shape[0])` | exports | `UserError: Constraints violated (batch)! ... specialized it to be a constant (8)` |
| `x * int(x.shape[0] / 2)` with `Dim("batch", min=4, max=64)` | exports | `UserError: Constraints violated (batch)! ... satisfy the generated guard (L['x'].size()[0] // 2) == 4` |

`x.shape[0] // 2`, `round(x.shape[0] / 2)` and `math.ceil(x.shape[0] / 2)` stay symbolic and
export in both modes: they are not reported. `int(x.shape[0] / 2)` exports with `Dim.DYNAMIC`,
which accepts narrowing guards, so it is only reported for a named `Dim(...)`.

## Example
```python
class Model(torch.nn.Module):
    def forward(self, x):
        half = int(x.shape[0] / 2)
        return x[:, :half] * int(x.shape[0])
```

## Use instead
```python
class Model(torch.nn.Module):
    def forward(self, x):
        half = x.shape[0] // 2
        return x[:, :half] * x.shape[0]
```

## Fix safety
Safe. `int(s)` becomes `s` and `int(s / k)` becomes `s // k` (`k` a positive integer literal): a
size is a non-negative `int`, so both give the same value in eager mode. `float(...)` and
`math.sqrt(...)` get no fix.

## References
- Non-strict export and symbolic sizes: https://pytorch.org/docs/stable/export.html#non-strict-export
"""

from __future__ import annotations

import libcst as cst

from export_lint.analysis.values import queries
from export_lint.analysis.values.exports import int_literal
from export_lint.diagnostics import Applicability
from export_lint.rule import Invalid, Rule, Valid

_CASTS = frozenset({"int", "float", "math.sqrt"})


class DynamicDimPythonCast(Rule):
    """A dynamic size turned into a Python number in non-strict export."""

    code = "EXP107"
    requires = ("export", "class")
    traced_only = True
    name = "dynamic-dim-python-cast"
    message = (
        "`{call}` turns `{param}` dim {index}, declared dynamic as `{dim}`, into a Python number: "
        "non-strict torch.export specializes it"
    )
    fix_applicability = Applicability.SAFE

    VALID = [
        Valid(
            """
            import math

            import torch
            from torch.export import Dim

            class Model(torch.nn.Module):
                def forward(self, x):
                    half = x.shape[0] // 2
                    return x * half + x * math.ceil(x.shape[0] / 2) + x * int(x.shape[1])

            torch.export.export(Model(), (torch.randn(8, 4),), dynamic_shapes={"x": {0: Dim("batch", min=4)}})
            """
        ),
        # `round` of a size: torch 2.4 and 2.5's verifier reject the exported graph
        # (`SpecViolationError: Operator '<built-in function round>' is not an allowed operator type`).
        Valid(
            """
            import torch
            from torch.export import Dim

            class Model(torch.nn.Module):
                def forward(self, x):
                    return x * round(x.shape[0] / 2)

            torch.export.export(Model(), (torch.randn(8, 4),), dynamic_shapes={"x": {0: Dim("batch", min=4)}})
            """,
            requires_torch=">=2.6",
        ),
        Valid(
            """
            import torch
            from torch.export import Dim

            class Model(torch.nn.Module):
                def forward(self, x):
                    return x * int(x.shape[0])

            torch.export.export(Model(), (torch.randn(8, 4),), dynamic_shapes={"x": {0: Dim("batch")}}, strict=True)
            """
        ),
        Valid(
            """
            import torch

            class Model(torch.nn.Module):
                def forward(self, x):
                    return x * int(x.shape[0] / 2)

            torch.export.export(Model(), (torch.randn(8, 4),), dynamic_shapes={"x": {0: torch.export.Dim.DYNAMIC}})
            """,
            requires_torch=">=2.6",
        ),
    ]
    INVALID = [
        Invalid(
            """
            import torch
            from torch.export import Dim

            class Model(torch.nn.Module):
                def forward(self, x):
                    return x * int(x.shape[0])

            torch.export.export(Model(), (torch.randn(8, 4),), dynamic_shapes={"x": {0: Dim("batch")}}, strict=False)
            """,
            after="""
            import torch
            from torch.export import Dim

            class Model(torch.nn.Module):
                def forward(self, x):
                    return x * x.shape[0]

            torch.export.export(Model(), (torch.randn(8, 4),), dynamic_shapes={"x": {0: Dim("batch")}}, strict=False)
            """,
        ),
        Invalid(
            """
            import math

            import torch
            from torch.export import Dim

            class Model(torch.nn.Module):
                def forward(self, x):
                    b, n = x.shape
                    half = int(b / 2)
                    return x * half + x.sum() / math.sqrt(b)

            torch.export.export(Model(), (torch.randn(8, 4),), dynamic_shapes=({0: Dim("batch", min=4, max=64)},), strict=False)
            """,
            count=2,
        ),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        name = self.semantic.qualified_name(node.func)
        if name not in _CASTS or len(node.args) != 1 or node.args[0].star or node.args[0].keyword:
            return
        flow = queries.function_values(self.semantic, self.context.torch_version)
        if flow is None or not flow.dynamic:
            return
        if not queries.traced_non_strict(self.semantic, self.context.torch_version):
            return
        value = node.args[0].value
        size = flow.dynamic_size(value)
        fix = None
        if size is not None:
            if name == "int":
                fix = self.fix("Use the size itself", self.context.replace(node, self.context.code(value)))
        elif isinstance(value, cst.BinaryOperation) and isinstance(value.operator, cst.Divide):
            size = flow.dynamic_size(value.left)
            divisor = int_literal(value.right)
            if size is None or not size[1].named:
                return
            if name == "int" and divisor is not None and divisor > 0:
                replacement = f"{self.context.code(value.left)} // {divisor}"
                fix = self.fix("Divide with `//`", self.context.replace(node, replacement))
        if size is None:
            return
        param, dim = size
        self.report(node, fix, call=self.context.code(node), param=param, index=dim.index, dim=dim.name)
