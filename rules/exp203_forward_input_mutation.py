"""## What it does
Finds in-place writes in `forward` to one of its own inputs: `x.add_(1)`, `x[:, 0] = v`, `x += 1`
(the last two when `x` is annotated `torch.Tensor`, or indexed with a multi-dimensional index such
as `x[:, 0]`, which only tensors and arrays accept). Writes that only run in training (under
`if self.training:`) are not reported: an exported inference model does not run them.

## Why is this bad?
torch 2.1, the first release with `torch.export`, rejects a program that mutates a user input:

    RuntimeError: Found following user inputs located at [0] are mutated. This is currently banned
    in the aot_export workflow. If you need this functionality, please file a github issue.

(`torch/_functorch/aot_autograd.py` in 2.1.0; 2.2 lifts user inputs so the mutation becomes an
output of the program.) From 2.2 on the write exports, and measured on torch 2.14.1
(`scripts/measure_side_effects.py`), strict and non-strict, the exported module replays the write
on the caller's tensor exactly as eager does and `run_decompositions()` accepts it; so the rule is
only on when the target torch is older than 2.2.

## Example
```python
class Model(torch.nn.Module):
    def forward(self, x):
        x[:, 0] = 0.0
        return x * 2
```

## Use instead
```python
class Model(torch.nn.Module):
    def forward(self, x):
        x = x.clone()
        x[:, 0] = 0.0
        return x * 2
```

## Fix safety
Unsafe: after the fix the caller's tensor is no longer modified. Code that relied on the write
(reading `x` after calling the model) changes behaviour.

## References
- ExportDB, `user_input_mutation` (SUPPORTED since torch 2.2): https://pytorch.org/docs/stable/generated/exportdb/index.html
"""

from __future__ import annotations

import libcst as cst

from export_lint.analysis.module_state import is_inplace_tensor_method, training_only
from export_lint.analysis.semantic import assigned_names
from export_lint.diagnostics import Applicability, Fix
from export_lint.rule import Invalid, Rule, Valid
from export_lint.traversal import visit

_TENSOR_ANNOTATIONS = frozenset({"torch.Tensor", "torch.FloatTensor", "torch.LongTensor", "torch.BoolTensor"})


class ForwardInputMutation(Rule):
    """`forward` writes in place to one of its inputs (rejected by torch.export before 2.2)."""

    code = "EXP203"
    requires = ("class",)
    traced_only = True
    name = "forward-input-mutation"
    message = "In-place write to `{name}`, an input of `forward`: torch.export before 2.2 rejects input mutation"
    torch_versions = "<2.2"
    fix_applicability = Applicability.UNSAFE

    VALID = [
        Valid(
            """
            import torch


            class Model(torch.nn.Module):
                def forward(self, x):
                    x = x.clone()
                    x[:, 0] = 0.0
                    x.add_(1)
                    return x * 2


            torch.export.export(Model(), (torch.randn(2, 3),))
            """,
            torch_version="2.1",
        ),
        Valid(
            """
            import torch


            class Model(torch.nn.Module):
                def forward(self, x, steps: int, names):
                    steps += 1
                    names[0] = "first"
                    y = x * 2
                    y[:, 0] = 0.0
                    return y + steps


            torch.export.export(Model(), (torch.randn(2, 3), 1, ["a"]))
            """,
            torch_version="2.1",
        ),
    ]
    INVALID = [
        Invalid(
            """
            import torch


            class Model(torch.nn.Module):
                def forward(self, x):
                    \"\"\"Zero the first column.\"\"\"
                    x[:, 0] = 0.0
                    x.mul_(2)
                    return x + 1


            torch.export.export(Model(), (torch.randn(2, 3),))
            """,
            after="""
            import torch


            class Model(torch.nn.Module):
                def forward(self, x):
                    \"\"\"Zero the first column.\"\"\"
                    x = x.clone()
                    x[:, 0] = 0.0
                    x.mul_(2)
                    return x + 1


            torch.export.export(Model(), (torch.randn(2, 3),))
            """,
            torch_version="2.1",
            count=2,
        ),
        Invalid(
            """
            import torch


            class Model(torch.nn.Module):
                def forward(self, x: torch.Tensor, bias):
                    x += bias
                    return x.relu()


            torch.export.export(Model(), (torch.randn(3), torch.randn(3)))
            """,
            after="""
            import torch


            class Model(torch.nn.Module):
                def forward(self, x: torch.Tensor, bias):
                    x = x.clone()
                    x += bias
                    return x.relu()


            torch.export.export(Model(), (torch.randn(3), torch.randn(3)))
            """,
            torch_version="2.1",
        ),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if (
            isinstance(func, cst.Attribute)
            and isinstance(func.value, cst.Name)
            and is_inplace_tensor_method(func.attr.value)
        ):
            self._check(func.value.value, node, certain=True)

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            subscript = target.target
            if isinstance(subscript, cst.Subscript) and isinstance(subscript.value, cst.Name):
                self._check(subscript.value.value, node, certain=_multi_dimensional(subscript))

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        target = node.target
        if isinstance(target, cst.Subscript) and isinstance(target.value, cst.Name):
            self._check(target.value.value, node, certain=_multi_dimensional(target))
        elif isinstance(target, cst.Name):
            self._check(target.value, node, certain=False)

    def _check(self, name: str, node: cst.CSTNode, *, certain: bool) -> None:
        forward = self._enclosing_forward()
        if forward is None:
            return
        param = _input_param(forward, name)
        if param is None or training_only(self.semantic):
            return
        if not certain and not self._annotated_tensor(param):
            return
        start, _ = self.context.span(node)
        if any(self.context.span(binding)[0] < start for binding in _rebindings(forward, name)):
            return
        self.report(node, self._fix(forward, name), name=name)

    def _enclosing_forward(self) -> cst.FunctionDef | None:
        function = self.semantic.enclosing(cst.FunctionDef)
        if not isinstance(function, cst.FunctionDef) or function.name.value != "forward":
            return None
        if self.semantic.enclosing_method() is None or not self.semantic.is_traced(function):
            return None
        return function

    def _annotated_tensor(self, param: cst.Param) -> bool:
        if param.annotation is None:
            return False
        return self.semantic.qualified_name(param.annotation.annotation, [self.semantic.module]) in _TENSOR_ANNOTATIONS

    def _fix(self, forward: cst.FunctionDef, name: str) -> Fix | None:
        body = forward.body
        if not isinstance(body, cst.IndentedBlock) or not body.body:
            return None
        first = body.body[0]
        anchor = first
        if _is_docstring(first):
            if len(body.body) < 2:
                return None
            anchor = body.body[1]
        edit = self.context.insert_before_statement(anchor, f"{name} = {name}.clone()")
        return self.fix(f"Clone `{name}` before writing to it", edit)


def _input_param(function: cst.FunctionDef, name: str) -> cst.Param | None:
    params = [*function.params.params, *function.params.kwonly_params]
    for index, param in enumerate(params):
        if index > 0 and param.name.value == name:
            return param
    return None


def _multi_dimensional(subscript: cst.Subscript) -> bool:
    """`x[:, 0]`, `x[..., 1]`: indices only tensors and arrays accept."""
    if len(subscript.slice) >= 2:
        return True
    return any(
        isinstance(element.slice, cst.Index) and isinstance(element.slice.value, cst.Ellipsis)
        for element in subscript.slice
    )


def _is_docstring(statement: cst.BaseStatement) -> bool:
    return (
        isinstance(statement, cst.SimpleStatementLine)
        and len(statement.body) == 1
        and isinstance(statement.body[0], cst.Expr)
        and isinstance(statement.body[0].value, (cst.SimpleString, cst.ConcatenatedString))
    )


def _rebindings(function: cst.FunctionDef, name: str) -> list[cst.CSTNode]:
    """Statements in the function that bind `name` anew (augmented assignment is not a rebinding)."""
    found: list[cst.CSTNode] = []

    class _Bindings(cst.CSTVisitor):
        def visit_Assign(self, node: cst.Assign) -> None:
            if any(name in assigned_names(target.target) for target in node.targets):
                found.append(node)

        def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
            if node.value is not None and name in assigned_names(node.target):
                found.append(node)

        def visit_For(self, node: cst.For) -> None:
            if name in assigned_names(node.target):
                found.append(node)

        def visit_AsName(self, node: cst.AsName) -> None:
            if name in assigned_names(node.name):
                found.append(node)

        def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
            if name in assigned_names(node.target):
                found.append(node)

    visit(function.body, _Bindings())
    return found
