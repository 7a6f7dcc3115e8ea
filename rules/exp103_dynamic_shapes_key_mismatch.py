"""## What it does
Finds a `dynamic_shapes` dict whose keys are not the parameter names of the exported module's
`forward` that the example inputs bind to. The forward must be resolvable: a class in the linted
file, or in an installed package's source (read as text, never imported): torchvision's
`mvit_v1_b(...)` returns an `MViT`, whose `forward(self, x)` counts.

## Why is this bad?
torch.export matches a dict `dynamic_shapes` to the inputs by the forward's argument names and
rejects any other key before tracing. Measured on torch 2.14.1 (strict and non-strict):

    UserError: When `dynamic_shapes` is specified as a dict, its top-level keys must be the arg
    names ['x'] of `inputs`, but here they are ['input']. Alternatively, you could also ignore arg
    names entirely and specify `dynamic_shapes` as a list/tuple matching `inputs`.

A parameter with a default that the inputs do not pass counts as a wrong key too (measured).

## Example
```python
class Model(torch.nn.Module):
    def forward(self, x): ...

torch.export.export(Model(), (frames,), dynamic_shapes={"input": {0: batch}})
```

## Use instead
```python
torch.export.export(Model(), (frames,), dynamic_shapes={"x": {0: batch}})
```

## Fix safety
Renaming is safe when the mapping is one-to-one: a key spelled as the variable passed at some
position (`{"frames": ...}` for `args=(frames,)`) becomes that position's parameter, and a single
wrong key left with a single unmatched parameter becomes that parameter. The code failed before
the fix; after it, each spec applies to the input it names. Otherwise the fix rewrites the dict
in the positional form, keeping correct keys at their parameters' positions and placing the other
specs in dict order: unsafe, because that order is a guess (review that each spec lands on the
input it was written for). No fix when the entries cannot cover the inputs.

## References
- torch.export dynamic shapes: https://pytorch.org/docs/stable/export.html#expressing-dynamism
- torch.export cookbook, "Video Classification with MViT"
"""

from __future__ import annotations

import libcst as cst

from export_lint.analysis.shapes import (
    DictValue,
    TupleValue,
    dynamic_export_at,
    target_forward_params,
)
from export_lint.diagnostics import Applicability, Fix
from export_lint.rule import Invalid, Rule, Valid


class DynamicShapesKeyMismatch(Rule):
    """dynamic_shapes dict keys that are not forward's parameter names."""

    code = "EXP103"
    requires = ("export",)
    traced_only = True
    name = "dynamic-shapes-key-mismatch"
    message = (
        "`dynamic_shapes` {keys} {verb} not among the names of the exported inputs {expected}: "
        "torch.export rejects the dict (`UserError`)"
    )
    fix_applicability = Applicability.SAFE

    VALID = [
        Valid(
            """
            import torch
            from torch.export import Dim

            class Model(torch.nn.Module):
                def forward(self, x, mask=None):
                    return x * 2

            ep = torch.export.export(Model(), (torch.randn(2, 3),), dynamic_shapes={"x": {0: Dim("batch")}})
            """
        ),
        Valid(
            """
            import torch
            from torch.export import Dim

            class Model(torch.nn.Module):
                def forward(self, x):
                    return x * 2

            ep = torch.export.export(Model(), (torch.randn(2, 3),), dynamic_shapes=({0: Dim("batch")},))
            """
        ),
        # The forward cannot be known: a module built elsewhere.
        Valid(
            """
            import torch
            from torch.export import Dim

            def export(model):
                return torch.export.export(model, (torch.randn(2, 3),), dynamic_shapes={"input": {0: Dim("batch")}})

            export(torch.nn.Linear(3, 3))
            """
        ),
        # Keyword inputs are named by their keys.
        Valid(
            """
            import torch
            from torch.export import Dim

            class Model(torch.nn.Module):
                def forward(self, x, scale=None):
                    return x * scale

            ep = torch.export.export(
                Model(),
                (torch.randn(2, 3),),
                kwargs={"scale": torch.ones(2, 3)},
                dynamic_shapes={"x": {0: Dim("batch")}, "scale": {0: Dim("batch")}},
            )
            """
        ),
    ]
    INVALID = [
        Invalid(
            """
            import torch
            from torch.export import Dim


            class Model(torch.nn.Module):
                def forward(self, x):
                    return x.relu()


            batch = Dim("batch", min=2, max=16)
            ep = torch.export.export(Model(), (torch.randn(2, 3),), dynamic_shapes={"input": {0: batch}})
            ep.module()(torch.randn(4, 3))
            """,
            after="""
            import torch
            from torch.export import Dim


            class Model(torch.nn.Module):
                def forward(self, x):
                    return x.relu()


            batch = Dim("batch", min=2, max=16)
            ep = torch.export.export(Model(), (torch.randn(2, 3),), dynamic_shapes={"x": {0: batch}})
            ep.module()(torch.randn(4, 3))
            """,
        ),
        # Keys spelled as the variables passed: each maps to its position's parameter.
        Invalid(
            """
            import torch
            from torch.export import Dim


            class Pair(torch.nn.Module):
                def forward(self, query, key):
                    return query @ key.transpose(0, 1)


            q, k = torch.randn(2, 4), torch.randn(3, 4)
            shapes = {'k': {0: Dim("keys")}, 'q': {0: Dim("queries")}}
            ep = torch.export.export(Pair(), (q, k), dynamic_shapes=shapes)
            """,
            after="""
            import torch
            from torch.export import Dim


            class Pair(torch.nn.Module):
                def forward(self, query, key):
                    return query @ key.transpose(0, 1)


            q, k = torch.randn(2, 4), torch.randn(3, 4)
            shapes = {'key': {0: Dim("keys")}, 'query': {0: Dim("queries")}}
            ep = torch.export.export(Pair(), (q, k), dynamic_shapes=shapes)
            """,
        ),
        # No one-to-one mapping: the positional form, specs in dict order (unsafe).
        Invalid(
            """
            import torch
            from torch.export import Dim


            class Pair(torch.nn.Module):
                def forward(self, a, b):
                    return a.sum() + b.sum()


            ep = torch.export.export(
                Pair(),
                (torch.randn(2, 3), torch.randn(5)),
                dynamic_shapes={"left": {0: Dim("rows")}, "right": {0: Dim("length")}},
            )
            """,
            after="""
            import torch
            from torch.export import Dim


            class Pair(torch.nn.Module):
                def forward(self, a, b):
                    return a.sum() + b.sum()


            ep = torch.export.export(
                Pair(),
                (torch.randn(2, 3), torch.randn(5)),
                dynamic_shapes=({0: Dim("rows")}, {0: Dim("length")}),
            )
            """,
        ),
        # An installed package's forward, read as text: torchvision's MViT is `forward(self, x)`.
        Invalid(
            """
            import torch
            from torchvision.models.video import mvit_v1_b

            def export(frames):
                model = mvit_v1_b(weights=None).eval()
                batch = torch.export.Dim("batch", min=2, max=16)
                return torch.export.export(model, (frames,), dynamic_shapes={"frames": {0: batch}})
            """,
            after="""
            import torch
            from torchvision.models.video import mvit_v1_b

            def export(frames):
                model = mvit_v1_b(weights=None).eval()
                batch = torch.export.Dim("batch", min=2, max=16)
                return torch.export.export(model, (frames,), dynamic_shapes={"x": {0: batch}})
            """,
            # Not run: building MViT and exporting it takes ~10 s; tests/test_dynamic_shapes.py covers it.
            proves=False,
        ),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        found = dynamic_export_at(self.semantic, node)
        if found is None:
            return
        parts, flow, event = found
        spec = flow.evaluate(parts.dynamic_shapes.value, event.env)
        args = flow.evaluate(parts.args, event.env)
        if not isinstance(spec, DictValue) or not isinstance(args, TupleValue):
            return
        keys: list[tuple[str, cst.SimpleString, cst.DictElement]] = []
        for element in spec.node.elements:
            if not isinstance(element, cst.DictElement) or not isinstance(element.key, cst.SimpleString):
                return
            value = element.key.evaluated_value
            if not isinstance(value, str):
                return
            keys.append((value, element.key, element))
        keyword_names = _keyword_names(parts.kwargs)
        if keyword_names is None:
            return
        params = target_forward_params(self.semantic, flow, event, parts.target)
        if params is None or len(args.items) > len(params):
            return
        expected = params[: len(args.items)] + keyword_names
        wrong = [entry for entry in keys if entry[0] not in expected]
        if not wrong:
            return
        # Point at the wrong key when the dict is written in the call, else at the argument.
        inline = parts.dynamic_shapes.value is spec.node
        self.report(
            wrong[0][1] if inline else parts.dynamic_shapes,
            self._fix(spec.node, keys, wrong, expected, args, bool(keyword_names)),
            keys=("key " if len(wrong) == 1 else "keys ") + ", ".join(f"`{name}`" for name, _, _ in wrong),
            verb="is" if len(wrong) == 1 else "are",
            expected=expected,
        )

    def _fix(self, spec: cst.Dict, keys, wrong, expected: list[str], args: TupleValue, has_kwargs: bool) -> Fix | None:
        present = {name for name, _, _ in keys}
        missing = [name for name in expected if name not in present]
        passed = _passed_names(args)
        mapping: dict[str, str] = {}
        for name, _, _ in wrong:
            if name in passed and expected[passed[name]] in missing and expected[passed[name]] not in mapping.values():
                mapping[name] = expected[passed[name]]
        left_keys = [name for name, _, _ in wrong if name not in mapping]
        left_params = [name for name in missing if name not in mapping.values()]
        if len(left_keys) == 1 and len(left_params) == 1:
            mapping[left_keys[0]] = left_params[0]
        if len(mapping) == len(wrong):
            edits = [
                self.context.replace(node, _requote(node, mapping[name])) for name, node, _ in keys if name in mapping
            ]
            renames = ", ".join(f"`{old}` to `{new}`" for old, new in mapping.items())
            return Fix(f"Rename {renames}", tuple(edits), Applicability.SAFE)
        if has_kwargs or len(keys) != len(expected):
            return None
        # Positional form: correct keys keep their parameter's position, the rest fill in dict order.
        slots: list[cst.DictElement | None] = [None] * len(expected)
        for name, _, element in keys:
            if name in expected:
                slots[expected.index(name)] = element
        free = iter(index for index, slot in enumerate(slots) if slot is None)
        for name, _, element in keys:
            if name not in expected:
                slots[next(free)] = element
        specs = [self.context.code(element.value) for element in slots]
        text = "(" + ", ".join(specs) + ("," if len(specs) == 1 else "") + ")"
        return Fix(
            "Use the positional form of `dynamic_shapes` (specs in dict order)",
            (self.context.replace(spec, text),),
            Applicability.UNSAFE,
        )


def _keyword_names(kwargs: cst.BaseExpression | None) -> list[str] | None:
    """Names of the keyword inputs (``kwargs={"mask": m}``); None when they cannot be read."""
    if kwargs is None or (isinstance(kwargs, cst.Name) and kwargs.value == "None"):
        return []
    if not isinstance(kwargs, cst.Dict):
        return None
    names = []
    for element in kwargs.elements:
        if not isinstance(element, cst.DictElement) or not isinstance(element.key, cst.SimpleString):
            return None
        names.append(element.key.evaluated_value)
    return names


def _passed_names(args: TupleValue) -> dict[str, int]:
    """Variable names written at each position of an args tuple literal: ``(frames, mask)``."""
    if not isinstance(args.node, (cst.Tuple, cst.List)):
        return {}
    return {
        element.value.value: index
        for index, element in enumerate(args.node.elements)
        if isinstance(element.value, cst.Name)
    }


def _requote(node: cst.SimpleString, name: str) -> str:
    quote = node.quote
    return f"{node.prefix}{quote}{name}{quote}"
