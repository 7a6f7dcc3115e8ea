"""## What it does
Finds `int(t)`, `float(t)` and `assert t` in traced code, where `t` is a tensor computed from a
forward input, when the code is exported in non-strict mode (`strict=False`, the default since
torch 2.8); also `int()`/`float()` of a number already read from tensor data (`int(n.item())`,
`int(len(x[x > 0]))`), `math` functions of a tensor (`math.ceil(t)`) and format specs on a tensor
or such a number (`f"{loss:.4f}"`).

## Why is this bad?
In non-strict mode export runs `forward` as ordinary Python on fake tensors, and `int()`,
`float()` and `assert` ask a fake tensor for a concrete value it does not have. Measured on torch
2.14.1 (scripts/measure_control_flow.py); strict mode traces all three:

| construct | strict=True | strict=False |
|---|---|---|
| `x[int(i)]`, `x * int(i)` | exports | `GuardOnDataDependentSymNode: Could not extract specialized integer from data-dependent expression u0` |
| `x * float(s)` | exports | `GuardOnDataDependentSymNode: Could not guard on data-dependent expression zuf0` |
| `assert (x > 0).all()` | exports | `GuardOnDataDependentSymNode: Could not guard on data-dependent expression Eq(u0, 1)` |
| `x * int(n.item())`, `x * float(n.item())`, `int(len(x[x > 0]))` | exports | `GuardOnDataDependentSymNode: Could not extract specialized integer from data-dependent expression u0` |
| `math.ceil(t)`, `math.sqrt(t)` | `UserError: Could not extract specialized integer from data-dependent expression u0` | `GuardOnDataDependentSymNode` (same) |
| `f"{t:.2f}"`, `f"{n.item():.2f}"` | `Unsupported: Observed exception` | `TypeError: unsupported format string passed to FakeTensor.__format__` |

`t.item()` traces in both modes (`x[i.item()]`, `x * s.item()` and `assert s.item() > 0` export),
and `torch._check_tensor_all(cond)` is the traceable assertion. On older torch `.item()` is no way
out (docs/torch-versions.md): `x[i.item()]` exports from torch 2.9 on (earlier: `IndexError ... got
SymInt`, `GuardOnDataDependentSymNode`), `assert s.item() > 0` from 2.13 on; for targets before 2.9
the `.item()` fix is not offered.

## Example
```python
class Model(torch.nn.Module):
    def forward(self, x, i):
        assert (x > 0).all()
        return x[int(i)]
```

## Use instead
```python
class Model(torch.nn.Module):
    def forward(self, x, i):
        torch._check_tensor_all(x > 0)
        return x[i.item()]
```

## Fix safety
Unsafe. `int(t)` and `float(t)` become `t.item()`, which returns an `int` for integer tensors and a
`float` for floating tensors: the same value only when the tensor's dtype matches the conversion,
which the linter cannot see. `assert t` becomes `torch._check_tensor_all(t)`, which checks every
element (an `assert` on a multi-element tensor raises instead) and is not removed by `python -O`.

## References
- Non-strict export: https://pytorch.org/docs/stable/export.html#non-strict-export
- `torch._check_tensor_all`: https://pytorch.org/docs/stable/generated/torch._check_tensor_all.html
"""

from __future__ import annotations

import libcst as cst

from export_lint import versions
from export_lint.analysis.values import guards, queries
from export_lint.analysis.values.lattice import Kind
from export_lint.analysis.values.queries import FunctionValues
from export_lint.diagnostics import Applicability
from export_lint.rule import Invalid, Rule, Valid

#: Where the `.item()` fix exports in non-strict mode (docs/torch-versions.md): up to torch 2.8
#: `x[i.item()]` fails too (2.4 to 2.6 `IndexError: ... (got SymInt)`, 2.7 and 2.8
#: `GuardOnDataDependentSymNode`), so no fix is offered for those targets.
_ITEM_EXPORTS = ">=2.9"


class TensorToPythonScalar(Rule):
    """``int(t)``, ``float(t)`` or ``assert t`` on a traced tensor in non-strict export."""

    code = "EXP303"
    requires = ("class",)
    traced_only = True
    name = "tensor-to-python-scalar"
    message = "`{expression}` asks a traced tensor for a concrete value: non-strict torch.export fails here{hint}"
    fix_applicability = Applicability.UNSAFE

    VALID = [
        Valid(
            """
            import torch

            class Model(torch.nn.Module):
                def forward(self, x, i):
                    torch._check_tensor_all(x > 0)
                    return x[i.item()] * int(x.shape[0])

            torch.export.export(Model(), (torch.rand(4) + 1, torch.tensor(1)), strict=False)
            """,
            # up to torch 2.8 `x[i.item()]` cannot be traced either (see _ITEM_EXPORTS)
            requires_torch=">=2.10",
        ),
        Valid(
            """
            import torch

            class Model(torch.nn.Module):
                def forward(self, x):
                    assert x.sum().item() > 0
                    return x * 2

            torch.export.export(Model(), (torch.rand(4) + 1,), strict=False)
            """,
            # up to torch 2.9 `GuardOnDataDependentSymNode`; 2.10 to 2.12 `AssertionError: Unknown symbol
            # zuf0 created by constraints solver`
            requires_torch=">=2.13",
        ),
        Valid(
            """
            import torch

            class Model(torch.nn.Module):
                def forward(self, x, i):
                    return x[int(i)]

            torch.export.export(Model(), (torch.randn(4), torch.tensor(1)), strict=True)
            """,
            # up to torch 2.8 Dynamo cannot either (`Could not guard on data-dependent expression`)
            requires_torch=">=2.9",
        ),
        Valid(
            """
            import torch

            class Model(torch.nn.Module):
                def forward(self, x, scale: float = 2.0):
                    return x * float(scale)

            torch.export.export(Model(), (torch.randn(4),))
            """
        ),
    ]
    INVALID = [
        Invalid(
            """
            import torch

            class Model(torch.nn.Module):
                def forward(self, x, i):
                    return x[int(i)]

            torch.export.export(Model(), (torch.randn(4), torch.tensor(1)), strict=False)
            """,
            after="""
            import torch

            class Model(torch.nn.Module):
                def forward(self, x, i):
                    return x[i.item()]

            torch.export.export(Model(), (torch.randn(4), torch.tensor(1)), strict=False)
            """,
            # the fixed `x[i.item()]` fails up to torch 2.8 (see _ITEM_EXPORTS)
            requires_torch=">=2.9",
        ),
        Invalid(
            """
            import torch

            class Model(torch.nn.Module):
                def forward(self, x: torch.Tensor, scale: torch.Tensor):
                    assert (x > 0).all()
                    return x * float(scale.max())

            torch.export.export(Model(), (torch.rand(4) + 1, torch.tensor([2.5])), strict=False)
            """,
            after="""
            import torch

            class Model(torch.nn.Module):
                def forward(self, x: torch.Tensor, scale: torch.Tensor):
                    torch._check_tensor_all((x > 0).all())
                    return x * scale.max().item()

            torch.export.export(Model(), (torch.rand(4) + 1, torch.tensor([2.5])), strict=False)
            """,
            count=2,
            requires_torch=">=2.9",
        ),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        name = self.semantic.qualified_name(node.func)
        if name is None or len(node.args) != 1 or node.args[0].star or node.args[0].keyword:
            return
        if name not in {"int", "float"} and not (name.startswith("math.") and name.count(".") == 1):
            return
        value = node.args[0].value
        flow = self._flow()
        if flow is None:
            return
        found = flow.value(value)
        if name.startswith("math."):
            if found.is_tensor:
                self.report(node, expression=self.context.code(node), hint=f" (use `torch.{name[5:]}`)")
            return
        if found.kind is Kind.DATA_SCALAR:
            self.report(node, expression=self.context.code(node), hint="")
            return
        if not found.is_tensor:
            return
        receiver = self.context.code(value)
        if not isinstance(value, (cst.Name, cst.Attribute, cst.Call, cst.Subscript)):
            receiver = f"({receiver})"
        fix = None
        if versions.matches(versions.parse_version(self.context.torch_version), _ITEM_EXPORTS):
            fix = self.fix("Read the value with `.item()`", self.context.replace(node, f"{receiver}.item()"))
        self.report(node, fix, expression=self.context.code(node), hint=" (use `.item()`)")

    def visit_FormattedStringExpression(self, node: cst.FormattedStringExpression) -> None:
        if node.format_spec is None:
            return
        flow = self._flow()
        if flow is None or not flow.value(node.expression).data_dependent:
            return
        self.report(node, expression=self.context.code(node), hint=" (format a Python number, or drop the spec)")

    def visit_Assert(self, node: cst.Assert) -> None:
        flow = self._flow()
        if flow is None or not flow.value(node.test).is_tensor:
            return
        torch_name = self.context.torch_alias(at=node)
        fix = None
        if torch_name is not None and node.msg is None:
            check = f"{torch_name}._check_tensor_all({self.context.code(node.test)})"
            fix = self.fix("Check with `torch._check_tensor_all`", self.context.replace(node, check))
        self.report(
            node,
            fix,
            expression=f"assert {self.context.code(node.test)}",
            hint=" (use `torch._check_tensor_all`)",
        )

    def _flow(self) -> FunctionValues | None:
        flow = queries.function_values(self.semantic, self.context.torch_version)
        if flow is None or not queries.traced_non_strict(self.semantic, self.context.torch_version):
            return None
        if guards.guarded_by_compile_check(self.semantic) or self.semantic.enclosing(cst.Lambda) is not None:
            return None  # a lambda's body runs later, if at all (error messages of `torch._check`)
        return flow
