"""## What it does
Finds `assert`, `if`, `while`, conditional expressions and `torch._check(...)` in a module's
`forward` that compare the size of a dim declared dynamic (`x.shape[0]`, `x.size(0)`, `len(x)`,
or a name unpacked from `x.shape`) with an integer literal that splits the declared range, when
the file exports that module with `dynamic_shapes` marking the dim with `Dim(...)` or
`Dim.DYNAMIC`: `==`/`!=` with a literal inside the range, `<`/`<=`/`>`/`>=` with a literal that
leaves sizes of the range on both sides.

## Why is this bad?
The comparison guards the dim to one value, or to part of its range, which contradicts the
declared range: export refuses. Measured on torch 2.14.1 with an example size of 8, in both strict
and non-strict mode:

    torch._dynamo.exc.UserError: Constraints violated (batch)! For more information, run with TORCH_LOGS="+dynamic".
      - You marked batch as dynamic but your code specialized it to be a constant (8).

for `assert x.shape[0] == 8`, `torch._check(x.shape[0] == 8)`, `if x.shape[0] == 8:` and
`if x.shape[0] != 8:` (`Dim("batch", min=2, max=64)`, `Dim("batch")` and `Dim.DYNAMIC` alike),
and `Not all values of batch ... satisfy the generated guard` for `if x.shape[0] > 4:` with
`Dim("batch", min=4, max=64)`. Comparing with 0 or 1 exports (export treats dynamic sizes as at
least 2), as does a literal outside the declared `min`/`max`, or an inequality the range already
implies (`assert x.shape[0] >= 2` with `min=4`): none of those is reported.

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

from export_lint.analysis.values import queries
from export_lint.analysis.values.exports import int_literal
from export_lint.analysis.values.lattice import DynamicDim
from export_lint.rule import Invalid, Rule, Valid


class DynamicDimLiteralComparison(Rule):
    """A dynamic dim compared with a literal that splits its declared range, in forward."""

    code = "EXP104"
    requires = ("export", "class")
    traced_only = True
    name = "dynamic-dim-literal-comparison"
    message = (
        "`{comparison}` narrows `{param}` dim {index}, declared dynamic as `{dim}`, to part of its range: "
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
                    if x.shape[0] > 1 and x.shape[0] < 100:
                        x = x * 2
                    if x.shape[0] == 1:
                        x = x * 2
                    return x + 1

            torch.export.export(Model(), (torch.randn(8, 4),), dynamic_shapes={"x": {0: Dim("batch", max=64)}})
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
                    if len(x) > 4:
                        return x * 3
                    return x + y.sum()


            model = Model()
            torch.export.export(
                model, (torch.randn(8, 4), torch.randn(8)), dynamic_shapes=({0: batch}, {0: Dim.DYNAMIC}), strict=True
            )
            """,
            count=3,
            requires_torch=">=2.6",
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
        flow = queries.function_values(self.semantic, self.context.torch_version)
        if flow is None or not flow.dynamic:
            return
        for comparison in _comparisons(test):
            if len(comparison.comparisons) != 1:
                continue
            target = comparison.comparisons[0]
            operator = _OPERATORS.get(type(target.operator))
            if operator is None:
                continue
            for size_side, literal_side, flipped in (
                (comparison.left, target.comparator, False),
                (target.comparator, comparison.left, True),
            ):
                size = flow.dynamic_size(size_side)
                literal = int_literal(literal_side)
                if size is None or literal is None:
                    continue
                param, dim = size
                if not _splits(_FLIPPED[operator] if flipped else operator, literal, dim):
                    continue
                self.report(
                    comparison,
                    comparison=self.context.code(comparison),
                    param=param,
                    index=dim.index,
                    dim=dim.name,
                )
                break


_OPERATORS = {
    cst.Equal: "==",
    cst.NotEqual: "!=",
    cst.LessThan: "<",
    cst.LessThanEqual: "<=",
    cst.GreaterThan: ">",
    cst.GreaterThanEqual: ">=",
}
_FLIPPED = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


def _splits(operator: str, literal: int, dim: DynamicDim) -> bool:
    """Whether ``size <operator> literal`` holds for some sizes of the dim's range and not others.

    Export treats dynamic sizes as at least 2, whatever the declared minimum.
    """
    low = max(dim.min if dim.min is not None else 0, 2)
    high = dim.max if dim.max is not None else float("inf")
    if operator in ("==", "!="):
        return low <= literal <= high
    if operator in ("<", ">="):
        return low < literal <= high
    return low <= literal < high  # "<=", ">"


def _comparisons(test: cst.BaseExpression):
    if isinstance(test, cst.BooleanOperation):
        yield from _comparisons(test.left)
        yield from _comparisons(test.right)
    elif isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        yield from _comparisons(test.expression)
    elif isinstance(test, cst.Comparison):
        yield test
