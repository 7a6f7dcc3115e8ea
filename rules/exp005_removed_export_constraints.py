"""## What it does
Finds `torch.export.export(..., constraints=[...])` calls and rewrites the `dynamic_dim`
constraints into the `dynamic_shapes=` argument built from `torch.export.Dim`.

## Why is this bad?
`constraints=` was deprecated in torch 2.2 in favour of `dynamic_shapes=` and removed in 2.3
(pytorch/pytorch#120860; the 2.2.0 wheel's `export` still takes `constraints`, the 2.3.0 wheel's does
not). Measured on torch 2.14.1 (`scripts/measure_side_effects.py`):

    TypeError: export() got an unexpected keyword argument 'constraints'

## Example
```python
from torch.export import dynamic_dim

ep = torch.export.export(model, (x, y), constraints=[dynamic_dim(x, 0) >= 2, dynamic_dim(x, 0) <= 64])
```

## Use instead
```python
ep = torch.export.export(model, (x, y), dynamic_shapes=({0: torch.export.Dim("x_dim0", min=2, max=64)}, None))
```

## Fix safety
Safe: each `dynamic_dim(t, i)` bound becomes the same range on a `Dim` for the same input and
dimension, so the exported program accepts the same shapes. The fix is offered when `args` is a
tuple of names, every constraint is `dynamic_dim(name, int)` optionally compared with an integer,
and `dynamic_shapes` is not passed already; otherwise (equalities between dims, constraints built
elsewhere) the call is reported without a fix. The import of `dynamic_dim`, removed in torch 2.5,
is dropped when the rewritten constraints were its only use.

## References
- https://github.com/pytorch/pytorch/pull/120860 ("[export] kill deprecated constraints API")
- torch.export docs, "Expressing Dynamism": https://pytorch.org/docs/stable/export.html
"""

from __future__ import annotations

import dataclasses

import libcst as cst

from export_lint.api_migration import references, remove_import_alias, torch_module_name
from export_lint.diagnostics import Applicability, Edit, Fix
from export_lint.rule import Invalid, Rule, Valid

DYNAMIC_DIM = frozenset(
    {"torch.export.dynamic_dim", "torch._export.dynamic_dim", "torch.export.dynamic_shapes.dynamic_dim"}
)


@dataclasses.dataclass
class _Range:
    minimum: int | None = None
    maximum: int | None = None


class RemovedExportConstraints(Rule):
    """`export(..., constraints=...)` is gone since torch 2.3."""

    code = "EXP005"
    requires = ("export", "constraints")
    traced_only = True
    name = "removed-export-constraints"
    message = "`constraints=` was removed from torch.export in torch 2.3: pass `dynamic_shapes=` built from `Dim`"
    torch_versions = ">=2.3"
    fix_applicability = Applicability.SAFE

    VALID = [
        Valid(
            """
            import torch

            x = torch.randn(4, 3)
            batch = torch.export.Dim("batch", min=2, max=64)
            torch.export.export(torch.nn.Linear(3, 3), (x,), dynamic_shapes=({0: batch},))
            """
        ),
        Valid(
            """
            import torch


            def export(model, args, constraints=None):
                return torch.export.export(model, args)


            export(torch.nn.Linear(3, 3), (torch.randn(4, 3),), constraints=[])
            """
        ),
    ]
    INVALID = [
        Invalid(
            """
            import torch
            from torch.export import dynamic_dim


            class Add(torch.nn.Module):
                def forward(self, x, y):
                    return x + y


            x, y = torch.randn(4, 3), torch.randn(3)
            ep = torch.export.export(Add(), (x, y), constraints=[dynamic_dim(x, 0) >= 2, dynamic_dim(x, 0) <= 64])
            ep.module()(torch.randn(7, 3), y)
            """,
            after="""
            import torch


            class Add(torch.nn.Module):
                def forward(self, x, y):
                    return x + y


            x, y = torch.randn(4, 3), torch.randn(3)
            ep = torch.export.export(Add(), (x, y), dynamic_shapes=({0: torch.export.Dim("x_dim0", min=2, max=64)}, None))
            ep.module()(torch.randn(7, 3), y)
            """,
        ),
        Invalid(
            """
            import torch
            from torch.export import export

            constraints = []
            ep = export(torch.nn.Linear(3, 3), (torch.randn(4, 3),), constraints=constraints)
            """
        ),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        if not self.semantic.is_export_call(node):
            return
        keyword = next(
            (arg for arg in node.args if arg.keyword is not None and arg.keyword.value == "constraints"), None
        )
        if keyword is None:
            return
        self.report(keyword, self._fix(node, keyword))

    def _fix(self, call: cst.Call, keyword: cst.Arg) -> Fix | None:
        if any(arg.keyword is not None and arg.keyword.value == "dynamic_shapes" for arg in call.args):
            return None
        args = _args_tuple(call)
        if args is None or not isinstance(keyword.value, (cst.List, cst.Tuple)):
            return None
        names = [element.value.value for element in args.elements if isinstance(element.value, cst.Name)]
        if len(names) != len(args.elements):
            return None
        ranges: dict[tuple[str, int], _Range] = {}
        dynamic_dim_calls: list[cst.Call] = []
        for element in keyword.value.elements:
            parsed = self._constraint(element.value, ranges)
            if parsed is None:
                return None
            dynamic_dim_calls.append(parsed)
        if not ranges or any(name not in names for name, _ in ranges):
            return None
        torch_name, import_edit = torch_module_name(self.context, call)
        specs = []
        for name in names:
            dims = [
                f'{index}: {torch_name}.export.Dim("{name}_dim{index}"{_bounds(bounds)})'
                for (dim_name, index), bounds in sorted(ranges.items(), key=lambda item: item[0][1])
                if dim_name == name
            ]
            specs.append("{" + ", ".join(dims) + "}" if dims else "None")
        shapes = "(" + ", ".join(specs) + ("," if len(specs) == 1 else "") + ")"
        start, _ = self.context.span(keyword.keyword)
        _, end = self.context.span(keyword.value)
        claim = self.context.keyword_claim(call, "dynamic_shapes")
        edits: list[Edit | None] = [import_edit, Edit(start, end, f"dynamic_shapes={shapes}", claim=claim)]
        edits.append(self._drop_dynamic_dim_import(dynamic_dim_calls))
        return self.fix("Pass `dynamic_shapes=` built from `torch.export.Dim`", *edits)

    def _constraint(self, expr: cst.BaseExpression, ranges: dict[tuple[str, int], _Range]) -> cst.Call | None:
        """Record one `dynamic_dim(x, i) [op n]` constraint; None when it has another shape."""
        if isinstance(expr, cst.Call):
            key = self._dynamic_dim(expr)
            if key is None:
                return None
            ranges.setdefault(key, _Range())
            return expr
        if not isinstance(expr, cst.Comparison) or len(expr.comparisons) != 1:
            return None
        left, target = expr.left, expr.comparisons[0]
        operator, right = type(target.operator), target.comparator
        flipped = {cst.GreaterThanEqual: cst.LessThanEqual, cst.LessThanEqual: cst.GreaterThanEqual}
        flipped.update({cst.GreaterThan: cst.LessThan, cst.LessThan: cst.GreaterThan})
        if isinstance(left, cst.Integer) and isinstance(right, cst.Call):
            left, right, operator = right, left, flipped.get(operator)
        if not (isinstance(left, cst.Call) and isinstance(right, cst.Integer)):
            return None
        key = self._dynamic_dim(left)
        if key is None or operator is None:
            return None
        bound = int(right.value)
        current = ranges.setdefault(key, _Range())
        if operator is cst.GreaterThanEqual:
            current.minimum = bound
        elif operator is cst.GreaterThan:
            current.minimum = bound + 1
        elif operator is cst.LessThanEqual:
            current.maximum = bound
        elif operator is cst.LessThan:
            current.maximum = bound - 1
        else:
            return None
        return left

    def _dynamic_dim(self, call: cst.Call) -> tuple[str, int] | None:
        if self.semantic.qualified_name(call.func) not in DYNAMIC_DIM or len(call.args) != 2:
            return None
        tensor, index = (arg.value for arg in call.args)
        if not isinstance(tensor, cst.Name) or not isinstance(index, cst.Integer):
            return None
        return tensor.value, int(index.value)

    def _drop_dynamic_dim_import(self, calls: list[cst.Call]) -> Edit | None:
        """Remove `from torch.export import dynamic_dim` when these calls were its only uses."""
        local_names = {call.func.value for call in calls if isinstance(call.func, cst.Name)}
        if len(local_names) != 1:
            return None
        (local,) = local_names
        if references(self.context.module, local) != len(calls):
            return None
        binding = self.semantic.binding(local, [self.semantic.module])
        if not isinstance(binding.node, cst.ImportFrom) or isinstance(binding.node.names, cst.ImportStar):
            return None
        statement = next(
            (
                stmt
                for stmt in self.context.module.body
                if isinstance(stmt, cst.SimpleStatementLine) and any(part is binding.node for part in stmt.body)
            ),
            None,
        )
        alias = next((a for a in binding.node.names if (a.asname or a).name.value == local), None)
        if statement is None or alias is None:
            return None
        return remove_import_alias(self.context, statement, binding.node, alias)


def _args_tuple(call: cst.Call) -> cst.Tuple | None:
    positional = [arg for arg in call.args if arg.keyword is None and not arg.star]
    value = positional[1].value if len(positional) >= 2 else None
    if value is None:
        value = next((arg.value for arg in call.args if arg.keyword is not None and arg.keyword.value == "args"), None)
    return value if isinstance(value, cst.Tuple) else None


def _bounds(bounds: _Range) -> str:
    text = ""
    if bounds.minimum is not None:
        text += f", min={bounds.minimum}"
    if bounds.maximum is not None:
        text += f", max={bounds.maximum}"
    return text
