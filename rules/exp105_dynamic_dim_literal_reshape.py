"""## What it does
Finds `x.view(...)`, `x.reshape(...)` and `torch.reshape(x, ...)` in a module's `forward` where
`x` is a forward input with a dim declared dynamic and every target size is an integer literal
(`x.view(8, 4)`, `x.reshape(32)`).

## Why is this bad?
A reshape to literal sizes fixes the number of elements, so the input's dynamic dim can only have
one size. Measured on torch 2.14.1 with `Dim("batch", min=2, max=64)`, an example input of shape
(8, 6), both strict and non-strict:

    torch._dynamo.exc.UserError: Constraints violated (batch)! For more information, run with TORCH_LOGS="+dynamic".
      - You marked batch as dynamic but your code specialized it to be a constant (8).

for `x.view(8, 6)` and `x.view(48)`; `x.reshape(8, -1)` and `x.expand(8, 4)` fail the same way.
Sizes computed from the input (`x.reshape(x.shape[0], -1)`, `x.view(-1, 3)`) export. Only
all-literal targets are reported: with a `-1` the outcome depends on divisibility (`reshape(1, -1)`
exports, `reshape(2, -1)` does not), which this rule does not judge.

## Example
```python
class Model(torch.nn.Module):
    def forward(self, x):
        return x.view(8, 24)

torch.export.export(Model(), (torch.randn(8, 4, 6),), dynamic_shapes={"x": {0: Dim("batch")}})
```

## Use instead
```python
class Model(torch.nn.Module):
    def forward(self, x):
        return x.view(x.shape[0], 24)
```

## Fix safety
No automatic fix: which literal stands for the dynamic dim is not always clear (`view(8, 24)` on
an (8, 4, 6) input could mean `view(b, 24)` or something else).

## References
- Dynamic shapes: https://pytorch.org/docs/stable/export.html#expressing-dynamism
"""

from __future__ import annotations

import libcst as cst

from export_lint.analysis.values import queries
from export_lint.analysis.values.exports import int_literal
from export_lint.rule import Invalid, Rule, Valid

_RESHAPES = frozenset({"view", "reshape"})


class DynamicDimLiteralReshape(Rule):
    """A reshape of a dynamic-shaped input to literal sizes in forward."""

    code = "EXP105"
    requires = ("export", "class")
    traced_only = True
    name = "dynamic-dim-literal-reshape"
    message = (
        "`{call}` fixes the element count of `{param}`, whose dim {index} is declared dynamic as `{dim}`: "
        "torch.export fails with `Constraints violated`"
    )

    VALID = [
        Valid(
            """
            import torch
            from torch.export import Dim

            class Model(torch.nn.Module):
                def forward(self, x):
                    y = x.reshape(x.shape[0], -1) + x.view(-1, 24).sum()
                    return y + torch.ones(6).view(2, 3).sum()

            torch.export.export(Model(), (torch.randn(8, 4, 6),), dynamic_shapes={"x": {0: Dim("batch")}})
            """
        ),
        Valid(
            """
            import torch

            class Model(torch.nn.Module):
                def forward(self, x):
                    return x.view(8, 24)

            torch.export.export(Model(), (torch.randn(8, 4, 6),))
            """
        ),
    ]
    INVALID = [
        Invalid(
            """
            import torch
            from torch.export import Dim

            class Model(torch.nn.Module):
                def forward(self, x):
                    return x.view(8, 24)

            torch.export.export(Model(), (torch.randn(8, 4, 6),), dynamic_shapes={"x": {0: Dim("batch")}})
            """
        ),
        Invalid(
            """
            import torch
            from torch.export import Dim

            class Model(torch.nn.Module):
                def forward(self, tokens, scale):
                    flat = torch.reshape(tokens, (32,))
                    return flat * scale.reshape([1])

            torch.export.export(
                Model(),
                (torch.randn(4, 8), torch.randn(1)),
                dynamic_shapes={"tokens": {1: Dim("seq", min=2, max=128)}, "scale": None},
                strict=True,
            )
            """
        ),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        flow = queries.function_values(self.semantic, self.context.torch_version)
        if flow is None or not flow.dynamic:
            return
        func = node.func
        qualified = self.semantic.qualified_name(func)
        if qualified == "torch.reshape" and len(node.args) == 2:
            receiver, sizes = node.args[0].value, [node.args[1]]
        elif isinstance(func, cst.Attribute) and func.attr.value in _RESHAPES and qualified is None:
            receiver, sizes = func.value, list(node.args)
        else:
            return
        found = flow.dynamic_input(receiver)
        if found is None or not _all_literal_sizes(sizes):
            return
        param, dims = found
        dim = next(iter(dims.values()))
        self.report(node, call=self.context.code(node), param=param, index=dim.index, dim=dim.name)


def _all_literal_sizes(args: list[cst.Arg]) -> bool:
    if not args or any(arg.keyword is not None or arg.star for arg in args):
        return False
    values = [arg.value for arg in args]
    if len(values) == 1 and isinstance(values[0], (cst.Tuple, cst.List)):
        values = [element.value for element in values[0].elements]
    sizes = [int_literal(value) for value in values]
    return bool(sizes) and all(size is not None and size >= 0 for size in sizes)
