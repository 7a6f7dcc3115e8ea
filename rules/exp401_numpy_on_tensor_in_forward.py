"""## What it does
Finds traced code that hands a tensor to NumPy: `t.numpy()`, or a `numpy` function called on an
input of the traced function (`np.transpose(x, (1, 0))`, `np.asarray(x.cpu())`).

## Why is this bad?
Non-strict export (the default since torch 2.8) traces with fake tensors, which have no data to
give NumPy. Measured on torch 2.14.1 (`scripts/measure_side_effects.py`), `np.transpose(x, ...)`,
`x.numpy()` and `np.asarray(x)` in `forward` all fail:

    RuntimeError: .numpy() is not supported for tensor subclasses.

Strict export (`strict=True`, TorchDynamo) rewrites these NumPy calls into torch ops and exports.

## Example
```python
class Model(torch.nn.Module):
    def forward(self, x):
        return torch.as_tensor(np.transpose(x, (1, 0))) + 1
```

## Use instead
The torch operation: `x.permute(1, 0)` for `np.transpose`, `torch.*` for the rest, or
`strict=True` when NumPy must stay.

## Fix safety
`np.transpose(x, axes)` becomes `x.permute(axes)`: the same values, but the result is a tensor
view, not a NumPy array: unsafe where later code expects NumPy. Other calls are reported
without a fix.

## References
- torch.export docs, "Non-strict export": https://pytorch.org/docs/stable/export.html
"""

from __future__ import annotations

import libcst as cst

from export_lint.diagnostics import Applicability
from export_lint.rule import Invalid, Rule, Valid, shorten

_TENSOR_ANNOTATIONS = frozenset({"torch.Tensor", "torch.FloatTensor", "torch.LongTensor"})
#: Tensor methods that keep a tensor a tensor (`x.detach().cpu()` is still `x`'s data).
_TENSOR_PASS_THROUGH = frozenset({"detach", "cpu", "float", "double", "contiguous", "clone", "squeeze", "flatten"})


class NumpyOnTensorInForward(Rule):
    """Traced code passes a tensor to NumPy (fails in non-strict export)."""

    code = "EXP401"
    requires = ("class", "numpy")
    traced_only = True
    name = "numpy-on-tensor-in-forward"
    message = "`{call}` hands a tensor to NumPy in traced code: non-strict export fails (fake tensors have no data)"
    fix_applicability = Applicability.UNSAFE

    VALID = [
        Valid(
            """
            import numpy as np
            import torch


            class Model(torch.nn.Module):
                def __init__(self, dim: int):
                    super().__init__()
                    self.dim = dim

                def forward(self, x):
                    scale = float(np.sqrt(self.dim))
                    return x.permute(1, 0) / scale


            torch.export.export(Model(4), (torch.randn(2, 3),), strict=False)
            frames = np.transpose(torch.randn(2, 3).numpy(), (1, 0))
            """
        ),
    ]
    INVALID = [
        Invalid(
            """
            import numpy as np
            import torch


            class Model(torch.nn.Module):
                def forward(self, x):
                    return torch.as_tensor(np.transpose(x, (1, 0))) + 1


            torch.export.export(Model(), (torch.randn(2, 3),), strict=False)
            """,
            after="""
            import numpy as np
            import torch


            class Model(torch.nn.Module):
                def forward(self, x):
                    return torch.as_tensor(x.permute(1, 0)) + 1


            torch.export.export(Model(), (torch.randn(2, 3),), strict=False)
            """,
        ),
        Invalid(
            """
            import torch


            class Model(torch.nn.Module):
                def forward(self, x):
                    return torch.from_numpy(x.detach().numpy() * 2)


            torch.export.export(Model(), (torch.randn(3),), strict=False)
            """
        ),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        if not self.semantic.in_traced_code():
            return
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value == "numpy" and not self._is_numpy_module(func.value):
            self.report(node, call=shorten(self.context.code(node), 50))
            return
        qualified = self.semantic.qualified_name(func)
        if not qualified or not qualified.startswith("numpy.") or not node.args:
            return
        if node.args[0].keyword is not None or not self._is_input_tensor(node.args[0].value):
            return
        fix = None
        positional = [arg for arg in node.args if arg.keyword is None and not arg.star]
        if qualified == "numpy.transpose" and len(positional) == 2 == len(node.args):
            tensor, axes = (self.context.code(arg.value) for arg in positional)
            fix = self.fix("Use `Tensor.permute`", self.context.replace(node, f"{tensor}.permute({axes})"))
        self.report(node, fix, call=shorten(self.context.code(node), 50))

    def _is_numpy_module(self, expr: cst.BaseExpression) -> bool:
        return self.semantic.qualified_name(expr) == "numpy"

    def _is_input_tensor(self, expr: cst.BaseExpression) -> bool:
        """An input of the enclosing traced function (not `self`), possibly through `.detach().cpu()`."""
        while (
            isinstance(expr, cst.Call)
            and isinstance(expr.func, cst.Attribute)
            and expr.func.attr.value in _TENSOR_PASS_THROUGH
        ):
            expr = expr.func.value
        if not isinstance(expr, cst.Name):
            return False
        function = self.semantic.enclosing(cst.FunctionDef)
        if not isinstance(function, cst.FunctionDef):
            return False
        params = function.params.params
        for index, param in enumerate(params):
            if param.name.value != expr.value:
                continue
            if self.semantic.binding(expr.value).node is not param:
                return False  # rebound in the function
            if param.annotation is not None:
                annotation = self.semantic.qualified_name(param.annotation.annotation, [self.semantic.module])
                return annotation in _TENSOR_ANNOTATIONS
            is_method = self.semantic.enclosing_method() is not None
            return function.name.value == "forward" and is_method and index > 0
        return False
