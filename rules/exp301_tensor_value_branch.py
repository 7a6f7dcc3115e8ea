"""## What it does
Finds `if`, `while` and conditional expressions in traced code whose condition Python reads out of
tensor data: a comparison of a tensor (`if x.sum() > 0:`), a tensor's truth (`if mask.any():`,
`bool(t)`, `0 in mask`), a number taken out of a tensor (`.item()`, `.tolist()`, `int(t)`,
`torch.equal(a, b)`), or the size of a tensor whose shape depends on data (`torch.nonzero(x)`,
`x[x > 0]`, `unique`).

## Why is this bad?
torch.export records one graph; a Python branch on tensor data would need the data, which does
not exist while tracing. Measured on torch 2.14.1 (scripts/measure_control_flow.py), every case
fails in both modes:

| construct | strict=True | strict=False |
|---|---|---|
| `if x.sum() > 0:` / `while x.abs().max() < 10:` / ternary | `torch._dynamo.exc.Unsupported: Data-dependent branching` | `GuardOnDataDependentSymNode: Could not guard on data-dependent expression Eq(u0, 1)` |
| `if bool((x > 0).any()):` | `UserError: Consider annotating your code using torch._check*(). Could not guard on data-dependent expression Eq(u0, 1)` | `GuardOnDataDependentSymNode` (same expression) |
| `if x.max().item() > 0:` | `UserError: ... Could not guard on data-dependent expression zuf0 > 0.0` | `GuardOnDataDependentSymNode` (same) |
| `for v in t.tolist(): if v > 0:` | `Unsupported: Tensor.tolist() with non-integer tensor` | `GuardOnDataDependentSymNode: ... zuf0 > 0.0` |
| `if torch.equal(a, b):` | `Unsupported: Data dependent operator` | `DataDependentOutputException: aten.equal.default` |
| `if torch.nonzero(x > 0).shape[0] > 0:` / `if x[x > 0].numel() == 0:` | `UserError: ... Could not guard on data-dependent expression u0 > 0` | `GuardOnDataDependentSymNode` (same) |

Branches guarded by `torch.compiler.is_compiling()`, `is_torchdynamo_compiling()` or
`torch.jit.is_tracing()` are not reported: export may not run them. `self.training` reads as
`False` (export traces eval mode): the body of `if self.training:` is not reported, the tensor part
of `if not self.training and x.sum() > 0:` is.

## Example
```python
class Model(torch.nn.Module):
    def forward(self, x):
        if x.sum() > 0:
            return x + 1
        return x - 1
```

## Use instead
`torch.cond` traces both branches into the graph and picks one at run time (both must return
tensors of the same shape and dtype):
```python
class Model(torch.nn.Module):
    def forward(self, x):
        return torch.cond(x.sum() > 0, lambda x: x + 1, lambda x: x - 1, (x,))
```
When the branch only guards an error or a fast path, compute both and select with `torch.where`,
or check with `torch._check(...)` on a value from `.item()`.

## Fix safety
No automatic fix: turning Python branches into `torch.cond` changes what runs (both branches are
traced, their outputs must match in shape and dtype), so the rewrite needs a person.

## References
- torch.cond: https://pytorch.org/docs/stable/cond.html
- Dealing with data-dependent errors: https://pytorch.org/docs/stable/export.html (ExportDB tags
  `torch.dynamic-value`, `python.data-structure`; cases `cond_predicate`, `dynamic_shape_if_guard`)
"""

from __future__ import annotations

import libcst as cst

from export_lint.analysis.values import guards, queries
from export_lint.rule import Invalid, Rule, Valid, shorten


class TensorValueBranch(Rule):
    """A Python branch or loop condition read from tensor data in traced code."""

    code = "EXP301"
    requires = ("class",)
    traced_only = True
    name = "tensor-value-branch"
    message = "`{condition}` reads tensor data to pick a Python branch: torch.export cannot trace it (use `torch.cond`)"

    VALID = [
        Valid(
            """
            import torch

            class Model(torch.nn.Module):
                def forward(self, x):
                    return torch.cond(x.sum() > 0, lambda x: x + 1, lambda x: x - 1, (x,))

            torch.export.export(Model(), (torch.randn(3),))
            """
        ),
        Valid(
            """
            import torch

            class Model(torch.nn.Module):
                def forward(self, x, mask=None):
                    if mask is not None and x.dim() == 2 and x.shape[-1] > 2:
                        x = x.masked_fill(mask, 0.0)
                    if x.dtype == torch.float32 and x.numel() > 0:
                        x = x * 2
                    return x

            torch.export.export(Model(), (torch.randn(2, 3), torch.ones(2, 3, dtype=torch.bool)))
            """
        ),
        Valid(
            """
            import torch

            class Model(torch.nn.Module):
                def forward(self, x):
                    if not torch.compiler.is_compiling() and x.sum() > 0:
                        x = x + 1
                    return x

            torch.export.export(Model(), (torch.randn(3),))
            """
        ),
        Valid(
            """
            import torch


            def check(values):
                if values.sum() > 0:
                    return values
                return -values


            class Model(torch.nn.Module):
                def forward(self, x):
                    return x * 2


            torch.export.export(Model(), (torch.randn(3),))
            check(torch.randn(3))
            """
        ),
    ]
    INVALID = [
        Invalid(
            """
            import torch

            class Model(torch.nn.Module):
                def forward(self, x):
                    if x.sum() > 0:
                        return x + 1
                    return x - 1

            torch.export.export(Model(), (torch.randn(3),))
            """
        ),
        Invalid(
            """
            import torch

            class Model(torch.nn.Module):
                def forward(self, x: torch.Tensor):
                    scores = x.softmax(-1)
                    if bool((scores > 0.5).any()):
                        x = x * 2
                    return x

            torch.export.export(Model(), (torch.randn(2, 3),), strict=True)
            """
        ),
        Invalid(
            """
            import torch

            class Model(torch.nn.Module):
                def forward(self, x):
                    top = x.max().item()
                    return x + 1 if top > 0 else x - 1

            torch.export.export(Model(), (torch.randn(3),))
            """
        ),
        Invalid(
            """
            import torch

            class Model(torch.nn.Module):
                def forward(self, x):
                    idx = torch.nonzero(x > 0)
                    kept = x[x > 0]
                    if idx.shape[0] > 0:
                        x = x + 1
                    while kept.numel() > 2:
                        kept = kept[1:]
                    return x + kept.sum()

            torch.export.export(Model(), (torch.randn(8),), strict=False)
            """,
            count=2,
        ),
    ]

    def visit_If(self, node: cst.If) -> None:
        self._check(node.test)

    def visit_While(self, node: cst.While) -> None:
        self._check(node.test)

    def visit_IfExp(self, node: cst.IfExp) -> None:
        self._check(node.test)

    def _check(self, test: cst.BaseExpression) -> None:
        flow = queries.function_values(self.semantic, self.context.torch_version)
        if flow is None:
            return
        if guards.mentions_compile_guard(self.semantic, test) or guards.guarded_by_compile_check(self.semantic):
            return
        culprit = flow.is_data_dependent_test(test)
        if culprit is not None:
            self.report(culprit, condition=shorten(self.context.code(culprit), 60))
