"""## What it does
Finds traced code that updates module state export cannot carry: a Python number attribute
(`self.calls += 1` where `__init__` set `self.calls = 0`), or a plain tensor attribute rebound from
its own value (`self.t = self.t + 1` where `__init__` set `self.t = torch.zeros(3)`).

## Why is this bad?
torch.export runs `forward` once while tracing. A Python number is read at that moment and baked
into the program as a constant, and rebinding an attribute is not a tensor operation, so the
exported program never performs the update. Measured on torch 2.14.1, strict and non-strict
(`scripts/measure_side_effects.py`): both export without an error, and the exported module's
second call returns a different result from eager's second call (`x * 1` instead of `x * 2` for the
counter). Nothing warns.

Updates that only run in training (under `if self.training:`, after `if not self.training: return`,
or in a helper called only from such places) are not reported: an exported inference model does
not run them.

## Example
```python
class Counter(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return x * self.calls
```

## Use instead
Keep state the program must update in a registered buffer and update it in place, or pass it in
and return it:
```python
class Counter(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("calls", torch.zeros(()))

    def forward(self, x):
        self.calls.add_(1)
        return x * self.calls
```

## Fix safety
No automatic fix: which state the deployed program must carry is a design decision.

## References
- torch.export docs, "Tracing: Python values are specialized": https://pytorch.org/docs/stable/export.html
- ExportDB, tag `python.object-model`
"""

from __future__ import annotations

import libcst as cst

from export_lint.analysis.module_state import attribute_kinds, self_attribute, traced_self_attribute, training_only
from export_lint.rule import Invalid, Rule, Valid
from export_lint.traversal import visit


class PythonStateUpdatedInForward(Rule):
    """Traced code updates a Python-number attribute or rebinds a plain tensor attribute."""

    code = "EXP205"
    requires = ("class",)
    traced_only = True
    name = "python-state-updated-in-forward"
    message = (
        "`self.{attribute}` is {kind} updated in traced code: export bakes its value at trace time "
        "and the exported program never updates it"
    )

    VALID = [
        Valid(
            """
            import torch


            class Counter(torch.nn.Module):
                def __init__(self):
                    super().__init__()
                    self.register_buffer("calls", torch.zeros(()))

                def forward(self, x):
                    self.calls.add_(1)
                    return x * self.calls


            eager, exported = Counter(), torch.export.export(Counter(), (torch.randn(3),)).module()
            x = torch.randn(3)
            for _ in range(2):
                assert torch.allclose(exported(x), eager(x))
            """
        ),
        Valid(
            """
            import torch


            class Tracker(torch.nn.Module):
                def __init__(self):
                    super().__init__()
                    self.steps = 0
                    self.scale = 2.0

                def forward(self, x):
                    if self.training:
                        self.steps += 1
                    scale = self.scale
                    scale += 1
                    return x * scale


            model = Tracker().eval()
            ep = torch.export.export(model, (torch.randn(3),))
            x = torch.randn(3)
            assert torch.allclose(ep.module()(x), model(x))
            """
        ),
        Valid(
            """
            import torch


            class Cache(torch.nn.Module):
                def forward(self, x):
                    self.last = x * 2
                    return x + 1


            torch.export.export(Cache(), (torch.randn(3),), strict=False)
            """,
            # Before 2.10 assigning a new tensor attribute in forward fails export: strict, `AssertionError:
            # Mutating module attribute last during export`; non-strict, `ValueError: Node arity mismatch`
            # (2.8 and 2.9: `following attrs were created in the model.forward: {'last'}`): EXP207 reports it there.
            requires_torch=">=2.10",
        ),
    ]
    INVALID = [
        Invalid(
            """
            import torch


            class Counter(torch.nn.Module):
                def __init__(self):
                    super().__init__()
                    self.calls = 0

                def forward(self, x):
                    self.calls += 1
                    return x * self.calls


            eager, exported = Counter(), torch.export.export(Counter(), (torch.randn(3),)).module()
            x = torch.randn(3)
            for _ in range(2):
                assert torch.allclose(exported(x), eager(x)), "the exported program baked calls == 1"
            """
        ),
        Invalid(
            """
            import torch


            class Accumulator(torch.nn.Module):
                def __init__(self):
                    super().__init__()
                    self.total = torch.zeros(3)

                def forward(self, x):
                    self.total = self.total + x
                    return self.total * 1


            model = Accumulator()
            ep = torch.export.export(model, (torch.ones(3),), strict=True)
            exported = ep.module()
            x = torch.ones(3)
            first, second = exported(x), exported(x)
            assert torch.allclose(second, first + x), "the exported program does not accumulate"
            """
        ),
    ]

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self._check(node.target, node, "python")

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            self._check(target.target, node, "python", "tensor", reads=node.value)

    def _check(
        self, target: cst.BaseExpression, node: cst.CSTNode, *kinds: str, reads: cst.BaseExpression | None = None
    ) -> None:
        found = traced_self_attribute(self.semantic, target)
        if found is None or training_only(self.semantic):
            return
        info, receiver, attribute = found
        kind = attribute_kinds(self.semantic, info).get(attribute)
        if kind not in kinds:
            return
        if reads is not None and not _reads_attribute(reads, receiver, attribute):
            return
        self.report(
            node,
            attribute=attribute,
            kind="a Python number" if kind == "python" else "a plain tensor attribute",
        )


def _reads_attribute(expr: cst.BaseExpression, receiver: str | None, attribute: str) -> bool:
    found = False

    class _Reads(cst.CSTVisitor):
        def visit_Attribute(self, node: cst.Attribute) -> None:
            nonlocal found
            found = found or self_attribute(node, receiver) == attribute

    visit(expr, _Reads())
    return found
