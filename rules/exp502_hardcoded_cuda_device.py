"""## What it does
Finds traced code that pins tensors to CUDA: `.cuda()`, `device="cuda"` / `"cuda:0"`,
`torch.device("cuda")`, `.to("cuda")`.

## Why is this bad?
torch.export records the device as a constant of the program. Measured on torch 2.14.1 on a
CPU-only host (`scripts/measure_side_effects.py`): `x.cuda()` and `torch.ones(..., device="cuda")`
in `forward` export without an error in both modes (the program is traced with fake tensors), and
the exported module then fails when called:

    RuntimeError: Found no NVIDIA driver on your system.

Exported on a GPU host, the same program runs only where CUDA is present, whatever device its
inputs are on.

Code under `if x.is_cuda:` or a test of `.device` is not reported: there the device follows the
inputs.

## Example
```python
class Model(torch.nn.Module):
    def forward(self, x):
        return x + torch.ones(x.shape, device="cuda")
```

## Use instead
Follow the inputs' device: `torch.ones(x.shape, device=x.device)`, `y.to(x.device)`; move the
module and inputs with `.to(device)` outside `forward`.

## Fix safety
No automatic fix: which input's device to follow is the author's choice.

## References
- torch.export docs: https://pytorch.org/docs/stable/export.html
"""

from __future__ import annotations

import libcst as cst

from export_lint.analysis.module_state import mentions_attribute
from export_lint.rule import Invalid, Rule, Valid, shorten

#: Attributes whose test means the code already follows the input's device.
_DEVICE_ATTRIBUTES = frozenset({"is_cuda", "device", "type"})


class HardcodedCudaDevice(Rule):
    """Traced code pins a tensor to CUDA."""

    code = "EXP502"
    requires = ("class", "cuda")
    traced_only = True
    name = "hardcoded-cuda-device"
    message = "`{code}` pins a tensor to CUDA in traced code: the exported program fails on hosts without CUDA"

    VALID = [
        Valid(
            """
            import torch


            class Model(torch.nn.Module):
                def forward(self, x):
                    if x.is_cuda:
                        x = x.cuda()
                    return x + torch.ones(x.shape, device=x.device)


            ep = torch.export.export(Model(), (torch.randn(3),))
            ep.module()(torch.randn(3))
            device = "cuda" if torch.cuda.is_available() else "cpu"
            """
        ),
    ]
    INVALID = [
        Invalid(
            """
            import torch


            class Model(torch.nn.Module):
                def forward(self, x):
                    ones = torch.ones(x.shape, device="cuda")
                    return x + ones.cpu()


            ep = torch.export.export(Model(), (torch.randn(3),))
            # Without CUDA the call fails; with CUDA the program still names the device.
            ep.module()(torch.randn(3))
            assert "cuda" not in ep.graph_module.code, "the exported program is pinned to CUDA"
            """
        ),
        Invalid(
            """
            import torch


            class Model(torch.nn.Module):
                def forward(self, x):
                    return x.cuda().sum().to(torch.device("cuda:0"))


            torch.export.export(Model(), (torch.randn(3),))
            """,
            count=2,
            proves=False,  # exports everywhere; it only fails when the exported program runs without CUDA
        ),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value == "cuda":
            owner = self.semantic.qualified_name(func.value)
            if owner is None or not owner.startswith("torch"):  # `x.cuda()`, not an API of torch itself
                self._report(node)
            return
        qualified = self.semantic.qualified_name(func)
        takes_device = qualified == "torch.device" or (isinstance(func, cst.Attribute) and func.attr.value == "to")
        first = node.args[0] if node.args else None
        if takes_device and first is not None and first.keyword is None and _is_cuda_literal(first.value):
            self._report(node)
            return
        for arg in node.args:
            if arg.keyword is not None and arg.keyword.value == "device" and _is_cuda_literal(arg.value):
                self._report(arg)

    def _report(self, node: cst.CSTNode) -> None:
        if not self.semantic.in_traced_code() or self._device_follows_inputs():
            return
        self.report(node, code=shorten(self.context.code(node), 40))

    def _device_follows_inputs(self) -> bool:
        return any(
            isinstance(node, (cst.If, cst.IfExp)) and mentions_attribute(node.test, _DEVICE_ATTRIBUTES)
            for node in self.semantic.stack
        )


def _is_cuda_literal(expr: cst.BaseExpression) -> bool:
    if not isinstance(expr, cst.SimpleString):
        return False
    value = expr.evaluated_value
    return isinstance(value, str) and (value == "cuda" or value.startswith("cuda:"))
