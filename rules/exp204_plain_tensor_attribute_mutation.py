"""## What it does
Finds in-place writes in traced code (`self.t.add_(1)`, `self.t[0] = v`, `self.t += v`) to a module
attribute that `__init__` set to a plain tensor (`self.t = torch.zeros(3)`) instead of registering it
as a buffer.

## Why is this bad?
torch.export lifts a plain tensor attribute into the program as a *constant*. Measured on torch
2.14.1 (`scripts/measure_side_effects.py`):

- `torch.export.export` succeeds in both modes, but the next stage fails:
  `ep.run_decompositions()` raises
  `RuntimeError: Constant t is mutated in the forward method. Pls register it as buffer`.
- Non-strict export (the default since torch 2.8) also diverges from eager: the exported module
  does not carry the update from one call to the next.

A registered buffer is a program input, and its in-place update is part of the program: the same
model with `register_buffer` exports, decomposes and matches eager.

## Example
```python
class RunningCount(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.count = torch.zeros(3)

    def forward(self, x):
        self.count.add_(1)
        return x + self.count
```

## Use instead
```python
    def __init__(self):
        super().__init__()
        self.register_buffer("count", torch.zeros(3), persistent=False)
```

## Fix safety
Unsafe: `forward` computes the same values, and `persistent=False` keeps the tensor out of the
`state_dict` as before, but the tensor now shows up in `named_buffers()` and follows
`module.to(device)`, which code elsewhere may notice.

## References
- torch.export docs, "Export IR: buffers and constants": https://pytorch.org/docs/stable/export.html
- `torch.nn.Module.register_buffer`
"""

from __future__ import annotations

import libcst as cst

from export_lint.analysis.module_state import (
    attribute_kinds,
    init_assignment,
    is_inplace_tensor_method,
    self_name,
    traced_self_attribute,
)
from export_lint.diagnostics import Applicability, Fix
from export_lint.rule import Invalid, Rule, Valid

_INVALID_BEFORE = """
import torch


class RunningCount(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.count = torch.zeros(3)

    def forward(self, x):
        self.count.add_(1)
        return x + self.count


ep = torch.export.export(RunningCount(), (torch.randn(3),))
ep.run_decompositions()
"""


class PlainTensorAttributeMutation(Rule):
    """In-place write to a plain tensor attribute (not a buffer) in traced code."""

    code = "EXP204"
    requires = ("class",)
    traced_only = True
    name = "plain-tensor-attribute-mutation"
    message = (
        "In-place write to `{target}`, a plain tensor attribute: export lifts it as a constant and "
        "`run_decompositions()` fails; register it as a buffer"
    )
    fix_applicability = Applicability.UNSAFE

    VALID = [
        Valid(
            """
            import torch


            class RunningCount(torch.nn.Module):
                def __init__(self):
                    super().__init__()
                    self.register_buffer("count", torch.zeros(3))

                def forward(self, x):
                    self.count.add_(1)
                    return x + self.count


            torch.export.export(RunningCount(), (torch.randn(3),)).run_decompositions()
            """
        ),
        Valid(
            """
            import torch


            class Offset(torch.nn.Module):
                def __init__(self):
                    super().__init__()
                    self.offset = torch.ones(3)

                def reset(self):
                    self.offset.zero_()

                def forward(self, x):
                    shifted = self.offset.clone()
                    shifted.add_(1)
                    return x + shifted + self.offset


            torch.export.export(Offset(), (torch.randn(3),)).run_decompositions()
            """,
            # torch 2.6.0's run_decompositions rejects the in-place write to the clone, strict and
            # non-strict (`aot_autograd expected to have an entirely functional graph`): 2.6 only.
            requires_torch="!=2.6.0",
        ),
        Valid(
            """
            import torch


            class Weighted(torch.nn.Module):
                def __init__(self):
                    super().__init__()
                    self.weight = torch.nn.Parameter(torch.ones(3))

                def forward(self, x):
                    self.weight.requires_grad_(False)
                    return x * self.weight


            torch.export.export(Weighted(), (torch.randn(3),), strict=False).run_decompositions()
            """,
            # torch 2.4: `RuntimeError: you can only change requires_grad flags of leaf variables`
            requires_torch=">=2.6",
        ),
    ]
    INVALID = [
        Invalid(
            _INVALID_BEFORE,
            after=_INVALID_BEFORE.replace(
                "self.count = torch.zeros(3)", 'self.register_buffer("count", torch.zeros(3), persistent=False)'
            ),
        ),
        Invalid(
            """
            import torch
            from torch import nn


            class Cache(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.keys = torch.zeros(4, 2)

                def update(self, x):
                    self.keys[0] = x
                    self.keys.add_(1)

                def forward(self, x):
                    self.update(x)
                    return self.keys.sum(0)


            torch.export.export(Cache(), (torch.randn(2),), strict=True).run_decompositions()
            """,
            after="""
            import torch
            from torch import nn


            class Cache(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.register_buffer("keys", torch.zeros(4, 2), persistent=False)

                def update(self, x):
                    self.keys[0] = x
                    self.keys.add_(1)

                def forward(self, x):
                    self.update(x)
                    return self.keys.sum(0)


            torch.export.export(Cache(), (torch.randn(2),), strict=True).run_decompositions()
            """,
            count=2,
        ),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if isinstance(func, cst.Attribute) and is_inplace_tensor_method(func.attr.value):
            self._check(func.value, node)

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            if isinstance(target.target, cst.Subscript):
                self._check(target.target.value, node)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        target = node.target.value if isinstance(node.target, cst.Subscript) else node.target
        self._check(target, node)

    def _check(self, written: cst.BaseExpression, node: cst.CSTNode) -> None:
        found = traced_self_attribute(self.semantic, written)
        if found is None:
            return
        info, _receiver, attribute = found
        if attribute_kinds(self.semantic, info).get(attribute) != "tensor":
            return
        self.report(node, self._fix(info, attribute), target=f"self.{attribute}")

    def _fix(self, info, attribute: str) -> Fix | None:
        assignment = init_assignment(self.semantic, info, attribute)
        if assignment is None or len(assignment.targets) != 1:
            return None
        receiver = self_name(info.methods["__init__"])
        value = self.context.code(assignment.value)
        replacement = f'{receiver}.register_buffer("{attribute}", {value}, persistent=False)'
        return self.fix(
            f"Register `{attribute}` as a non-persistent buffer", self.context.replace(assignment, replacement)
        )
