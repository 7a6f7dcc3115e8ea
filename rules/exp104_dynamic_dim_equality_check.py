"""## What it does
Finds `assert`, `if`, `while`, conditional expressions and `torch._check(...)` in a module's
`forward` that compare the size of a dim declared dynamic (`x.shape[0]`, `x.size(0)`, `len(x)`,
or a name unpacked from `x.shape`) with `==` or `!=` to an integer literal, when the file exports
that module with `dynamic_shapes` marking the dim with `Dim(...)` or `Dim.DYNAMIC`.

## Why is this bad?
The comparison guards the dim to one value (or excludes one value of its range), which
contradicts the declared range: export refuses. Measured on torch 2.14.1 with
`Dim("batch", min=2, max=64)` and an example size of 8, in both strict and non-strict mode:

    torch._dynamo.exc.UserError: Constraints violated (batch)! For more information, run with TORCH_LOGS="+dynamic".
      - You marked batch as dynamic but your code specialized it to be a constant (8).

for `assert x.shape[0] == 8`, `torch._check(x.shape[0] == 8)`, `if x.shape[0] == 8:` and
`if x.shape[0] != 8:`. Comparing with 0 or 1 exports (those sizes are outside every `Dim`'s
range), as does comparing with a literal outside the declared `min`/`max`: neither is reported.
`assert x.shape[0] >= 2` exports when the range already says so.

## Example
```python
class Model(torch.nn.Module):
    def forward(self, x):
        assert x.shape[0] == 8
        return x + 1

torch.export.export(Model(), (torch.randn(8, 4),), dynamic_shapes={"x": {0: Dim("batch")}})
```

## Use instead
Either the dim is not dynamic (drop it from `dynamic_shapes`, or use `Dim.STATIC`), or the check
is wrong for the dynamic model: remove it, or check what really must hold (`x.shape[0] % 8 == 0`
with a `Dim` of the form `8 * Dim("k")`).
```python
class Model(torch.nn.Module):
    def forward(self, x):
        return x + 1
```

## Fix safety
No automatic fix: whether the check or the dynamic dim is wrong is the author's decision.

## References
- Dynamic shapes and constraint violations: https://pytorch.org/docs/stable/export.html#expressing-dynamism
- ExportDB tag `torch.dynamic-shape`
"""

from __future__ import annotations

import libcst as cst

from export_lint import dataflow
from export_lint.dataflow import int_literal
from export_lint.rule import Invalid, Rule, Valid


class DynamicDimEqualityCheck(Rule):
    """A dynamic dim compared for equality with a literal in forward."""

    code = "EXP104"
    name = "dynamic-dim-equality-check"
    message = (
        "`{comparison}` pins `{param}` dim {index}, declared dynamic as `{dim}`, to one size: "
        "torch.export fails with `Constraints violated`"
    )

    VALID = [
        Valid(
            """
            import torch
            from torch.export import Dim

            class Model(torch.nn.Module):
                def forward(self, x):
                    assert x.shape[0] >= 2
                    assert x.shape[1] == 4
                    if x.shape[0] == 1:
                        x = x * 2
                    return x + 1

            torch.export.export(Model(), (torch.randn(8, 4),), dynamic_shapes={"x": {0: Dim("batch")}})
            """
        ),
        Valid(
            """
            import torch
            from torch.export import Dim

            class Model(torch.nn.Module):
                def forward(self, x):
                    if x.shape[0] == 100:
                        x = x * 2
                    return x + 1

            torch.export.export(Model(), (torch.randn(8, 4),), dynamic_shapes={"x": {0: Dim("batch", min=2, max=64)}})
            """
        ),
        Valid(
            """
            import torch

            class Model(torch.nn.Module):
                def forward(self, x):
                    assert x.shape[0] == 8
                    return x + 1

            torch.export.export(Model(), (torch.randn(8, 4),))
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
                    assert x.shape[0] == 8
                    return x + 1

            torch.export.export(Model(), (torch.randn(8, 4),), dynamic_shapes={"x": {0: Dim("batch")}})
            """
        ),
        Invalid(
            """
            import torch
            from torch.export import Dim

            batch = Dim("batch", min=2, max=64)


            class Model(torch.nn.Module):
                def forward(self, x, y):
                    b, n = x.shape
                    torch._check(y.size(0) == 8)
                    if b != 8:
                        return x * 2
                    return x + y.sum()


            model = Model()
            torch.export.export(
                model, (torch.randn(8, 4), torch.randn(8)), dynamic_shapes=({0: batch}, {0: Dim.DYNAMIC}), strict=True
            )
            """,
            count=2,
        ),
    ]

    def visit_Assert(self, node: cst.Assert) -> None:
        self._check(node.test)

    def visit_If(self, node: cst.If) -> None:
        self._check(node.test)

    def visit_While(self, node: cst.While) -> None:
        self._check(node.test)

    def visit_IfExp(self, node: cst.IfExp) -> None:
        self._check(node.test)

    def visit_Call(self, node: cst.Call) -> None:
        if self.semantic.qualified_name(node.func) == "torch._check" and node.args:
            self._check(node.args[0].value)

    def _check(self, test: cst.BaseExpression) -> None:
        flow = dataflow.current_flow(self.semantic, self.context.torch_version)
        if flow is None or not flow.dynamic:
            return
        for comparison in _comparisons(test):
            if len(comparison.comparisons) != 1:
                continue
            target = comparison.comparisons[0]
            if not isinstance(target.operator, (cst.Equal, cst.NotEqual)):
                continue
            for size_side, literal_side in ((comparison.left, target.comparator), (target.comparator, comparison.left)):
                size = flow.dynamic_size(size_side)
                literal = int_literal(literal_side)
                if size is None or literal is None or literal in (0, 1):
                    continue
                param, dim = size
                if not dim.admits(literal):
                    continue
                self.report(
                    comparison,
                    comparison=self.context.code(comparison),
                    param=param,
                    index=dim.index,
                    dim=dim.name,
                )
                break


def _comparisons(test: cst.BaseExpression):
    if isinstance(test, cst.BooleanOperation):
        yield from _comparisons(test.left)
        yield from _comparisons(test.right)
    elif isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        yield from _comparisons(test.expression)
    elif isinstance(test, cst.Comparison):
        yield test
