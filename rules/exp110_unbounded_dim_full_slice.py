"""## What it does
Finds a full slice `:` along a dim declared dynamic with a `Dim(...)` that has no `max`, followed by
more indices (`x[:, 0]`, `x[:, j]`, `x[:, 1:]`, `x[:, None]`), in traced code, when the target torch
is 2.5 to 2.7.

## Why is this bad?
On those releases indexing past a full slice guards that the dim's size is not the largest int64,
and a `Dim` without `max` declares exactly that value possible, so export rejects the range, strict
and non-strict. Measured by the torch matrix (`scripts/torch_matrix.py`) with `x[:, 0]` and
`Dim("batch")` (also with `min=4`):

    torch._dynamo.exc.UserError: Constraints violated (batch)! ...
      - Not all values of batch = L['x'].size()[0] in the specified range satisfy the generated guard L['x'].size()[0] != 9223372036854775807.

torch 2.4 and torch 2.8 and later export it. Any `max` (even `2**62`) satisfies the guard; `x[:]`,
`x[..., 0]` and `x.select(1, 0)` export without one. A `Dim.DYNAMIC` dim is not reported.

## Example
```python
class Model(torch.nn.Module):
    def forward(self, x):
        return x[:, 0]

torch.export.export(Model(), (torch.randn(8, 4),), dynamic_shapes={"x": {0: Dim("batch")}})
```

## Use instead
Give the `Dim` the largest size the model must accept:
```python
torch.export.export(Model(), (torch.randn(8, 4),), dynamic_shapes={"x": {0: Dim("batch", max=1024)}})
```

## Fix safety
No automatic fix: the right `max` is the model's.

## References
- Dynamic shapes, `Dim` ranges: https://pytorch.org/docs/stable/export.html#expressing-dynamism
"""

from __future__ import annotations

import libcst as cst

from export_lint.analysis.values import queries
from export_lint.rule import Invalid, Rule, Valid

_MODEL = """
import torch
from torch.export import Dim

class Model(torch.nn.Module):
    def forward(self, x):
        return x[:, 0] * 2

torch.export.export(Model(), (torch.randn(8, 4),), dynamic_shapes={{"x": {{0: {dim}}}}})
"""


class UnboundedDimFullSlice(Rule):
    """A full slice along a dynamic dim without ``max``, followed by more indices (torch 2.5-2.7)."""

    code = "EXP110"
    requires = ("export", "class", "Dim")
    traced_only = True
    name = "unbounded-dim-full-slice"
    message = (
        "`{subscript}` indexes past a full slice of `{param}` dim {index}, declared dynamic as `{dim}` "
        "without `max`: torch.export 2.5 to 2.7 rejects the range (`!= 9223372036854775807`)"
    )
    torch_versions = ">=2.5,<2.8"

    VALID = [
        Valid(_MODEL.format(dim='Dim("batch", max=1024)'), torch_version="2.5"),
        Valid(
            """
            import torch
            from torch.export import Dim

            class Model(torch.nn.Module):
                def forward(self, x):
                    return x[:].sum() + x[..., 0].sum() + x[0, :].sum()

            torch.export.export(Model(), (torch.randn(8, 4),), dynamic_shapes={"x": {0: Dim("batch")}})
            """,
            torch_version="2.5",
            proves=False,
        ),
    ]
    INVALID = [
        Invalid(_MODEL.format(dim='Dim("batch")'), torch_version="2.5"),
        Invalid(
            """
            import torch
            from torch.export import Dim

            class Model(torch.nn.Module):
                def forward(self, x):
                    total = x.sum(0)
                    for j in range(x.shape[1]):
                        total = total + x[:, j].sum()
                    return x.softmax(-1) + total

            torch.export.export(
                Model(), (torch.randn(8, 4),), dynamic_shapes={"x": {0: Dim("batch", min=4)}}, strict=False
            )
            """,
            torch_version="2.7",
        ),
    ]

    def visit_Subscript(self, node: cst.Subscript) -> None:
        flow = queries.function_values(self.semantic, self.context.torch_version)
        if flow is None or not flow.dynamic:
            return
        found = flow.dynamic_input(node.value)
        if found is None:
            return
        param, dims = found
        elements = list(node.slice)
        for position, element in enumerate(elements[:-1]):  # the last element has nothing after it
            if isinstance(element.slice, cst.Index) and (
                isinstance(element.slice.value, cst.Ellipsis)
                or (isinstance(element.slice.value, cst.Name) and element.slice.value.value == "None")
            ):
                return  # positions after `...` or `None` are not dims of the input
            dim = dims.get(position)
            if dim is None or not dim.named or dim.has_max or not _full_slice(element.slice):
                continue
            self.report(node, subscript=self.context.code(node), param=param, index=dim.index, dim=dim.name)
            return


def _full_slice(part: cst.BaseSlice) -> bool:
    return isinstance(part, cst.Slice) and part.lower is None and part.upper is None and part.step is None
