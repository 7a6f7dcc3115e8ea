"""## What it does
Finds `round(...)` of an expression on the size of a dim declared dynamic (`round(x.shape[0] / 2)`)
in traced code, when the target torch is older than 2.6.

## Why is this bad?
The exported graph keeps `round` as a call of Python's builtin, and the verifier of torch 2.4 and
2.5 rejects it. Measured by the torch matrix (`scripts/torch_matrix.py`) with
`x * round(x.shape[0] / 2)` and `Dim("batch", min=4)`, strict and non-strict:

    torch._export.verifier.SpecViolationError: Operator '<built-in function round>' is not an allowed operator type: <class 'builtin_function_or_method'>

The same for `round(x.shape[0] * 0.5)`. torch 2.6 and later accept it. `round(x.shape[0])` (an
int already), `//`, `math.ceil(...)` and `math.floor(...)` of the same size export on every release,
and a static size (no dynamic dim) is rounded while tracing: none is reported.

## Example
```python
class Model(torch.nn.Module):
    def forward(self, x):
        return x * round(x.shape[0] / 2)
```

## Use instead
Integer arithmetic on the size, for example `(x.shape[0] + 1) // 2` where halves may round up
(Python's `round` rounds exact halves to even: `round(2.5) == 2`).

## Fix safety
No automatic fix: `round` rounds halves to even, which no single integer expression matches for
every divisor.

## References
- torch.export IR verifier: https://pytorch.org/docs/stable/export.ir_spec.html
"""

from __future__ import annotations

import libcst as cst

from export_lint.analysis.values import queries
from export_lint.rule import Invalid, Rule, Valid

_MODEL = """
import math

import torch
from torch.export import Dim

class Model(torch.nn.Module):
    def forward(self, x):
        return x * {expr}

torch.export.export(Model(), (torch.randn(8, 4),), dynamic_shapes={{"x": {{0: Dim("batch", min=4, max=64)}}}}{mode})
"""


class DynamicDimRound(Rule):
    """``round`` of a dynamic size (rejected by torch 2.4/2.5's verifier)."""

    code = "EXP109"
    requires = ("export", "class", "round")
    traced_only = True
    name = "dynamic-dim-round"
    message = (
        "`{call}` rounds `{param}` dim {index}, declared dynamic as `{dim}`: the verifier of torch "
        "before 2.6 rejects `round` in the exported graph"
    )
    torch_versions = "<2.6"

    VALID = [
        Valid(
            _MODEL.format(expr="((x.shape[0] + 1) // 2) + math.ceil(x.shape[0] / 2) + round(x.shape[0])", mode=""),
            torch_version="2.5",
        ),
        Valid(
            """
            import torch

            class Model(torch.nn.Module):
                def forward(self, x):
                    return x * round(x.shape[0] / 3)

            torch.export.export(Model(), (torch.randn(8, 4),))
            """,
            torch_version="2.5",
        ),
    ]
    INVALID = [
        Invalid(_MODEL.format(expr="round(x.shape[0] / 2)", mode=""), torch_version="2.5"),
        Invalid(_MODEL.format(expr="round(x.shape[0] * 0.5)", mode=", strict=False"), torch_version="2.4"),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        if not isinstance(node.func, cst.Name) or node.func.value != "round" or not node.args:
            return
        if self.semantic.qualified_name(node.func) not in {"round", "builtins.round"}:
            return
        flow = queries.function_values(self.semantic, self.context.torch_version)
        if flow is None or not flow.dynamic:
            return
        value = node.args[0].value
        size = flow.involves_dynamic_size(value)
        if size is None or flow.dynamic_size(value) is not None:
            return  # `round(s)` of the size itself stays an int: it exports
        param, dim = size
        self.report(node, call=self.context.code(node), param=param, index=dim.index, dim=dim.name)
