"""## What it does
Finds `torch.split`, `torch.chunk` and `torch.tensor_split` calls (and the `Tensor` methods of the
same names) in traced code whose piece size or piece count is a single number read from tensor
data: `.item()`, `int(t)`, an element of `.tolist()`, or the size of a tensor whose shape depends
on data.

## Why is this bad?
A split returns a Python tuple: export must know how many tensors it holds while tracing, and a
size or count read from data makes that number unknown. Measured on torch 2.14.1
(scripts/measure_control_flow.py):

| construct | strict=True | strict=False |
|---|---|---|
| `torch.split(x, n.item())` | `UserError: Could not extract specialized integer from data-dependent expression ((u0 + 7)//u0)` | `GuardOnDataDependentSymNode: Could not extract specialized integer from data-dependent expression ((u0 + 7)//u0)` |
| `x.chunk(n.item())`, `torch.tensor_split(x, n.item())` | `UserError: Could not extract specialized integer from data-dependent expression u0` | `GuardOnDataDependentSymNode` (same) |

A list of sizes read from data exports (`torch.split(x, sizes.tolist())` with a `sizes` of static
length): the number of pieces is the list's length. That is not reported.

## Example
```python
class Model(torch.nn.Module):
    def forward(self, x, n):
        return torch.split(x, n.item())[0]
```

## Use instead
Give the sizes of all pieces (their count is then the list's length), or make the size a Python
`int` argument (it is then a constant of the exported program):
```python
class Model(torch.nn.Module):
    def forward(self, x, sizes):
        return torch.split(x, sizes.tolist())[0]
```

## Fix safety
No automatic fix: which sizes the pieces should have is the author's decision.

## References
- torch.export, data-dependent values: https://pytorch.org/docs/stable/export.html
- ExportDB tag `torch.dynamic-value`
"""

from __future__ import annotations

import libcst as cst

from export_lint.analysis.values import guards, queries
from export_lint.analysis.values.lattice import Kind
from export_lint.rule import Invalid, Rule, Valid

_SPLITS = frozenset({"split", "chunk", "tensor_split"})
#: The keyword of the size or count argument, per function.
_SIZE_KEYWORDS = frozenset({"split_size_or_sections", "split_size", "chunks", "sections", "indices_or_sections"})


class DataDependentSplit(Rule):
    """A split whose piece size or count is read from tensor data in traced code."""

    code = "EXP304"
    requires = ("class",)
    traced_only = True
    name = "data-dependent-split"
    message = "`{call}` splits by a number read from tensor data: torch.export cannot know how many pieces it makes"

    VALID = [
        Valid(
            """
            import torch

            class Model(torch.nn.Module):
                def forward(self, x, sizes):
                    first, second = torch.split(x, sizes.tolist())
                    return first.sum() + second.sum() + x.chunk(2)[0].sum()

            torch.export.export(Model(), (torch.randn(8, 4), torch.tensor([3, 5])))
            """
        ),
    ]
    INVALID = [
        Invalid(
            """
            import torch

            class Model(torch.nn.Module):
                def forward(self, x, n):
                    return torch.split(x, n.item())[0]

            torch.export.export(Model(), (torch.randn(8, 4), torch.tensor(3)))
            """
        ),
        Invalid(
            """
            import torch

            class Model(torch.nn.Module):
                def forward(self, x, counts):
                    parts = x.chunk(counts.max().item())
                    return parts[0]

            torch.export.export(Model(), (torch.randn(8, 4), torch.tensor([2, 3])), strict=True)
            """
        ),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not isinstance(func, cst.Attribute) or func.attr.value not in _SPLITS:
            return
        flow = queries.function_values(self.semantic, self.context.torch_version)
        if flow is None or guards.guarded_by_compile_check(self.semantic):
            return
        qualified = self.semantic.qualified_name(func)
        if qualified is not None and qualified.startswith("torch."):
            position = 1  # torch.split(x, size)
        elif flow.value(func.value).is_tensor:
            position = 0  # x.split(size)
        else:
            return
        positional = [arg for arg in node.args if arg.keyword is None and not arg.star]
        size = next((arg.value for arg in node.args if arg.keyword and arg.keyword.value in _SIZE_KEYWORDS), None)
        if size is None and len(positional) > position:
            size = positional[position].value
        if size is not None and flow.value(size).kind is Kind.DATA_SCALAR:
            self.report(node, call=" ".join(self.context.code(node).split())[:60])
