"""## What it does
Finds a dimension marked dynamic in `dynamic_shapes` (`Dim(...)`, `Dim.DYNAMIC`, `Dim.AUTO`)
whose example input has size 0 or 1 there.

## Why is this bad?
torch.export specializes sizes 0 and 1 (the "0/1 specialization problem"): a symbolic size is never
created for them. Measured on torch 2.14.1, strict and non-strict, a model exported with a batch of 1:

- `Dim("batch", min=1, max=16)` (or any `Dim`, even `min=2`) fails at export:
  `UserError: Constraints violated (batch)! ... You marked batch as dynamic but your code
  specialized it to be a constant (1)`;
- `Dim.DYNAMIC` (torch 2.6 and later) fails at export: `ValueError: Found the following conflicts
  between user-specified ranges and inferred ranges from model tracing: ... 0/1 specialized`; torch
  2.7.1 instead exports it fixed at 1, and the call at another size fails (docs/torch-versions.md);
- `Dim.AUTO` exports with only a warning (`0/1 specialized; Dim.AUTO was specified along with a
  sample input with hint = 1`) and silently fixes the size at 1: calling at batch 4 then fails with
  `AssertionError: Guard failed: x.size()[0] == 1`.

## Example
```python
ep = torch.export.export(model, (torch.randn(1, 3),), dynamic_shapes={"x": {0: Dim.AUTO}})
ep.module()(torch.randn(4, 3))
```

## Use instead
An example of size 2 or more along every dynamic dimension (calls at size 1 still work: measured,
an export with `Dim("batch", min=2, max=16)` runs at batch 1):
```python
ep = torch.export.export(model, (torch.randn(2, 3),), dynamic_shapes={"x": {0: Dim.AUTO}})
```

## Fix safety
Display-only: where the size is a literal, the suggestion changes it to 2. The example input may
matter to the caller (a fixed batch of 1 for a reason), so it is never applied automatically.

## References
- torch.export dynamic shapes, "0/1 specialization": https://pytorch.org/docs/stable/export.html#expressing-dynamism
- torch.export cookbook, "Video Classification with MViT" (the note on `min=2`)
"""

from __future__ import annotations

from collections.abc import Iterator

import libcst as cst

from export_lint.analysis.shapes import (
    DictValue,
    DimValue,
    ExportEvent,
    ScopeFlow,
    TensorValue,
    TupleValue,
    dynamic_export_at,
    target_forward_params,
)
from export_lint.diagnostics import Applicability
from export_lint.rule import Invalid, Rule, Valid

_CONSEQUENCES = {
    "dim": "export fails with `Constraints violated`",
    "DYNAMIC": "export fails with `0/1 specialized`",
    "AUTO": "export silently fixes it at that size and other sizes fail when called",
}


def input_specs(
    flow: ScopeFlow, event: ExportEvent, spec: cst.BaseExpression
) -> Iterator[tuple[str | int, cst.BaseExpression]]:
    """The top-level entries of a ``dynamic_shapes`` value: (parameter name or input index, spec)."""
    value = flow.evaluate(spec, event.env)
    if isinstance(value, DictValue):
        for element in value.node.elements:
            if isinstance(element, cst.DictElement) and isinstance(element.key, cst.SimpleString):
                yield element.key.evaluated_value, element.value
    elif isinstance(value, TupleValue) and isinstance(value.node, (cst.Tuple, cst.List)):
        for index, element in enumerate(value.node.elements):
            if not isinstance(element, cst.StarredElement):
                yield index, element.value


def dim_specs(
    flow: ScopeFlow, event: ExportEvent, spec: cst.BaseExpression
) -> Iterator[tuple[int, cst.BaseExpression, DimValue]]:
    """The dims one input's spec marks: ``{0: Dim(...)}`` or ``(Dim(...), None)``."""
    value = flow.evaluate(spec, event.env)
    if isinstance(value, DictValue):
        for element in value.node.elements:
            if not isinstance(element, cst.DictElement) or not isinstance(element.key, cst.Integer):
                continue
            dim = flow.evaluate(element.value, event.env)
            if isinstance(dim, DimValue):
                yield int(element.key.value, 0), element.value, dim
    elif isinstance(value, TupleValue) and isinstance(value.node, (cst.Tuple, cst.List)):
        for index, element in enumerate(value.node.elements):
            dim = flow.evaluate(element.value, event.env)
            if isinstance(dim, DimValue):
                yield index, element.value, dim


class DimZeroOneSpecialization(Rule):
    """A dynamic dim whose example size is 0 or 1."""

    code = "EXP102"
    requires = ("export",)
    traced_only = True
    name = "dim-zero-one-specialization"
    message = (
        "Dim {dim} of `{input}` is marked dynamic (`{spec}`) but its example size is {size}: "
        "torch.export specializes sizes 0 and 1, so {consequence}"
    )
    fix_applicability = Applicability.DISPLAY_ONLY

    VALID = [
        Valid(
            """
            import torch
            from torch.export import Dim

            class Model(torch.nn.Module):
                def forward(self, x):
                    return x.sum(dim=1)

            ep = torch.export.export(Model(), (torch.randn(2, 3),), dynamic_shapes={"x": {0: Dim("batch", min=2, max=16)}})
            ep.module()(torch.randn(1, 3))
            """
        ),
        # Size 1 on a dim that is not dynamic.
        Valid(
            """
            import torch
            from torch.export import Dim

            class Model(torch.nn.Module):
                def forward(self, x):
                    return x * 2

            ep = torch.export.export(Model(), (torch.randn(4, 1),), dynamic_shapes={"x": (Dim.DYNAMIC, Dim.STATIC)})
            """,
            requires_torch=">=2.6",
        ),
        # The example size is not known.
        Valid(
            """
            import torch

            def export(model, example):
                return torch.export.export(model, (example,), dynamic_shapes=({0: torch.export.Dim.AUTO},))

            export(torch.nn.ReLU(), torch.randn(3, 2))
            """,
            requires_torch=">=2.5",
        ),
    ]
    INVALID = [
        Invalid(
            """
            import torch
            from torch.export import Dim

            class Model(torch.nn.Module):
                def forward(self, x):
                    return x.sum(dim=1)

            batch = Dim("batch", min=1, max=16)
            ep = torch.export.export(Model(), (torch.randn(1, 3),), dynamic_shapes={"x": {0: batch}})
            """
        ),
        Invalid(
            """
            import torch

            example = torch.zeros(4, 1, 8).permute(1, 0, 2)
            ep = torch.export.export(torch.nn.ReLU(), (example,), dynamic_shapes=({0: torch.export.Dim.DYNAMIC},))
            # torch 2.7 exports, fixed at 1: the call at another size is what fails there
            ep.module()(torch.zeros(4, 3, 8).permute(1, 0, 2))
            """,
            requires_torch=">=2.6",
        ),
        # Dim.AUTO exports, silently fixed at 1: the call at another size is what fails.
        Invalid(
            """
            import torch
            from torch.export import Dim

            class Model(torch.nn.Module):
                def forward(self, x):
                    return x.sum(dim=1)

            inputs = (torch.randn(1, 3),)
            ep = torch.export.export(Model(), inputs, dynamic_shapes={"x": (Dim.AUTO, None)})
            ep.module()(torch.randn(4, 3))
            """,
            requires_torch=">=2.5",
        ),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        found = dynamic_export_at(self.semantic, node)
        if found is None:
            return
        parts, flow, event = found
        example = flow.evaluate(parts.args, event.env)
        if not isinstance(example, TupleValue):
            return
        entries = list(input_specs(flow, event, parts.dynamic_shapes.value))
        params = None
        if any(isinstance(key, str) for key, _ in entries):
            params = target_forward_params(self.semantic, flow, event, parts.target)
        for key, spec in entries:
            index = _input_index(key, params, len(entries), len(example.items))
            if index is None or index >= len(example.items):
                continue
            tensor = example.items[index]
            if not isinstance(tensor, TensorValue):
                continue
            for dim, expr, marker in dim_specs(flow, event, spec):
                if marker.kind not in _CONSEQUENCES or not -len(tensor.sizes) <= dim < len(tensor.sizes):
                    continue
                size = tensor.sizes[dim]
                if size not in (0, 1):
                    continue
                origin = tensor.origins[dim]
                fix = None
                if origin is not None:
                    fix = self.fix(f"Use an example of size 2 along dim {dim}", self.context.replace(origin, "2"))
                self.report(
                    expr,
                    fix,
                    dim=dim,
                    input=key if isinstance(key, str) else f"input {key}",
                    spec=self.context.code(expr),
                    size=size,
                    consequence=_CONSEQUENCES[marker.kind],
                )


def _input_index(key: str | int, params: list[str] | None, entries: int, inputs: int) -> int | None:
    if isinstance(key, int):
        return key
    if params is not None:
        return params.index(key) if key in params else None
    # Forward unknown: a single named entry for a single input can only mean that input.
    return 0 if entries == inputs == 1 else None
