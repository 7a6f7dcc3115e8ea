"""## What it does
Finds `torch.export.export` calls without `dynamic_shapes` whose exported module is later called,
in the same function or script, with an input of another size than the example input.

## Why is this bad?
Without `dynamic_shapes`, torch.export specializes every dimension to the example input's size.
The export succeeds; the exported module then rejects any other size when it is called. Measured
on torch 2.14.1 (strict and non-strict), a model exported at batch 2 and called at batch 4:

    AssertionError: Guard failed: x.size()[0] == 2

and with `ep.module(check_guards=False)` (the cookbook's error on older releases):

    RuntimeError: Expected input at *args[0].shape[0] to be equal to 2, but got 4. If you meant
    for this dimension to be dynamic, please re-export and specify dynamic_shapes (e.g. with Dim.DYNAMIC)

This is the MViT failure of the torch.export cookbook (export at batch 2, inference at batch 4).

Shapes are followed through `torch.randn/rand/zeros/ones/empty/full/randint/tensor` with literal
sizes, `np.transpose`, `.permute`, `.transpose`, `.unsqueeze`, `.reshape`, `.to`, `.float()`, ...
and simple reassignments (see `export_lint/analysis/shapes.py`). When a size is not known the rule is silent.

## Example
```python
ep = torch.export.export(model, (torch.randn(2, 3),))
ep.module()(torch.randn(4, 3))
```

## Use instead
```python
ep = torch.export.export(
    model, (torch.randn(2, 3),), dynamic_shapes={"x": {0: torch.export.Dim("batch", min=2, max=4)}}
)
ep.module()(torch.randn(4, 3))
```

The fix adds a `Dim` on each dimension whose size differs, keyed by the forward's parameter names
when the target's class is known (in the file, or an installed package such as torchvision),
else in the positional form `({0: Dim(...)},)`. Dimensions that change together (same example size,
same sizes at every call) share one `Dim`: separate `Dim`s for dims the model relates (`x + y`)
fail with `Constraints violated`. `min=2` avoids the 0/1 specialization (EXP102); `max` is the
smallest power of two covering every size seen (a call above `max` fails `Guard failed: x.size()[0] <= max`).
Widen it if production inputs are larger. No fix is offered when the example size is 0 or 1 there
(a `Dim` cannot be attached to it: change the example first) or when the export passes `kwargs`.

## Fix safety
Unsafe: a model that specializes the dimension (`x.view(2, -1)`, an `nn.LSTM` sequence length,
`round(x.shape[0] / 2)`) exported fine with static shapes and fails with dynamic ones (measured:
`UserError: Constraints violated (batch)!`). Review the export after applying it.

## References
- torch.export dynamic shapes: https://pytorch.org/docs/stable/export.html#expressing-dynamism
- torch.export cookbook, "Video Classification with MViT"
"""

from __future__ import annotations

import dataclasses

import libcst as cst

from export_lint.analysis.shapes import (
    TensorValue,
    TupleValue,
    export_call_parts,
    export_event_at,
    has_star_arguments,
    target_forward_params,
)
from export_lint.diagnostics import Applicability, Edit
from export_lint.rule import Invalid, Rule, Valid

_DIM_QUALIFIED = frozenset({"torch.export.Dim", "torch.export.dynamic_shapes.Dim"})


def _shared_dims(
    example: TupleValue, differing: dict[tuple[int, int], list[int]], calls: list[dict[tuple[int, int], int]]
) -> list[list[tuple[int, int]]]:
    """The differing dims grouped into the ones that share a `Dim`.

    Dims of the same example size share one unless some call gives them different sizes: a model
    that relates them (`x + y`) needs them equal, and separate `Dim`s for such dims fail with
    `Constraints violated` (two dims the model does not relate still export with one `Dim`, as
    long as every call gives them the same size, as these calls do).
    """
    groups: list[list[tuple[int, int]]] = []
    for member in sorted(differing):
        size = example.items[member[0]].sizes[member[1]]
        for group in groups:
            first = group[0]
            if example.items[first[0]].sizes[first[1]] != size:
                continue
            if all(
                call[other] == call[member] for call in calls for other in group if other in call and member in call
            ):
                group.append(member)
                break
        else:
            groups.append([member])
    return groups


def _covering_power_of_two(size: int) -> int:
    power = 2
    while power < size:
        power *= 2
    return power


class MissingDynamicShapes(Rule):
    """Export without dynamic_shapes whose module is called at other sizes."""

    code = "EXP101"
    requires = ("export",)
    traced_only = True
    name = "missing-dynamic-shapes"
    message = (
        "Exported without `dynamic_shapes`, but the exported module is called at other sizes "
        "({details}): the call fails a shape guard"
    )
    fix_applicability = Applicability.UNSAFE

    VALID = [
        Valid(
            """
            import torch

            class Model(torch.nn.Module):
                def forward(self, x):
                    return x * 2

            ep = torch.export.export(
                Model(), (torch.randn(2, 3),), dynamic_shapes={"x": {0: torch.export.Dim("batch", min=2, max=8)}}
            )
            ep.module()(torch.randn(4, 3))
            """
        ),
        Valid(
            """
            import torch

            class Model(torch.nn.Module):
                def forward(self, x):
                    return x * 2

            ep = torch.export.export(Model(), (torch.randn(2, 3),))
            out = ep.module()(torch.randn(2, 3))
            """
        ),
        # Shapes that are not statically known: a parameter, a size from a variable loop.
        Valid(
            """
            import torch

            def export_and_run(model, example, batch):
                ep = torch.export.export(model, (example,))
                return ep.module()(batch)

            for n in (2, 4):
                x = torch.randn(n, 3)
            export_and_run(torch.nn.Linear(3, 3), torch.randn(2, 3), torch.randn(2, 3))
            """
        ),
        # Not export: an eager module called at two sizes.
        Valid(
            """
            import torch

            model = torch.nn.Linear(3, 4)
            model(torch.randn(2, 3))
            model(torch.randn(4, 3))
            """
        ),
    ]
    INVALID = [
        Invalid(
            """
            import torch


            class Model(torch.nn.Module):
                def __init__(self):
                    super().__init__()
                    self.linear = torch.nn.Linear(3, 4)

                def forward(self, x):
                    return self.linear(x).relu()


            model = Model().eval()
            ep = torch.export.export(model, (torch.randn(2, 3),))
            ep.module()(torch.randn(4, 3))
            """,
            after="""
            import torch


            class Model(torch.nn.Module):
                def __init__(self):
                    super().__init__()
                    self.linear = torch.nn.Linear(3, 4)

                def forward(self, x):
                    return self.linear(x).relu()


            model = Model().eval()
            ep = torch.export.export(model, (torch.randn(2, 3),), dynamic_shapes={"x": {0: torch.export.Dim("batch", min=2, max=4)}})
            ep.module()(torch.randn(4, 3))
            """,
        ),
        # The cookbook's MViT layout: np.transpose, a reassigned name, a multi-line call, a try block.
        Invalid(
            """
            import numpy as np
            import torch as T


            class Video(T.nn.Module):
                def forward(self, frames, scale):
                    return frames.mean(dim=(2, 3, 4)) * scale


            frames = T.randn(2, 4, 8, 8, 3)
            frames = np.transpose(frames, (0, 4, 1, 2, 3))
            scale = T.ones(2, 1)
            inputs = (frames, scale)
            exported = T.export.export(
                Video(),
                inputs,
            )
            frames = np.transpose(T.randn(5, 4, 8, 8, 3), (0, 4, 1, 2, 3))
            module = exported.module()
            try:
                module(frames, T.ones(5, 1))
            finally:
                pass
            """,
            after="""
            import numpy as np
            import torch as T


            class Video(T.nn.Module):
                def forward(self, frames, scale):
                    return frames.mean(dim=(2, 3, 4)) * scale


            frames = T.randn(2, 4, 8, 8, 3)
            frames = np.transpose(frames, (0, 4, 1, 2, 3))
            scale = T.ones(2, 1)
            inputs = (frames, scale)
            exported = T.export.export(
                Video(),
                inputs,
                dynamic_shapes={"frames": {0: T.export.Dim("batch", min=2, max=8)}, "scale": {0: T.export.Dim("batch", min=2, max=8)}},
            )
            frames = np.transpose(T.randn(5, 4, 8, 8, 3), (0, 4, 1, 2, 3))
            module = exported.module()
            try:
                module(frames, T.ones(5, 1))
            finally:
                pass
            """,
        ),
        # An unknown forward (torch.nn.Linear): the positional form; `Dim` imported by name.
        Invalid(
            """
            import torch
            from torch.export import Dim, export


            def run():
                seq = torch.zeros(3, 7, 16)
                ep = export(torch.nn.Linear(16, 8), (seq.float(),))
                return ep.module()(torch.zeros(3, 12, 16))


            run()
            """,
            after="""
            import torch
            from torch.export import Dim, export


            def run():
                seq = torch.zeros(3, 7, 16)
                ep = export(torch.nn.Linear(16, 8), (seq.float(),), dynamic_shapes=({1: Dim("dim1", min=2, max=16)},))
                return ep.module()(torch.zeros(3, 12, 16))


            run()
            """,
        ),
        # No `torch` name in the file: the fix imports it once.
        Invalid(
            """
            from torch import nn, ones
            from torch.export import export

            ep = export(nn.ReLU(), (ones(2, 3),))
            ep.module()(ones(2, 6))
            """,
            after="""
            from torch import nn, ones
            from torch.export import export
            import torch

            ep = export(nn.ReLU(), (ones(2, 3),), dynamic_shapes=({1: torch.export.Dim("dim1", min=2, max=8)},))
            ep.module()(ones(2, 6))
            """,
        ),
        # `Dim` is imported below the export call (executorch's export-to-executorch tutorial): at
        # the call it is not bound yet, so the fix names it through `torch`.
        Invalid(
            """
            import torch
            from torch.export import export


            class Basic(torch.nn.Module):
                def forward(self, x, y):
                    return x + y


            ep = export(Basic(), (torch.randn(3, 3), torch.randn(3, 3)), strict=True)
            ep.module()(torch.ones(3, 2), torch.ones(3, 2))

            from torch.export import Dim

            dim1_x = Dim("dim1_x", min=1, max=10)
            """,
            after="""
            import torch
            from torch.export import export


            class Basic(torch.nn.Module):
                def forward(self, x, y):
                    return x + y


            ep = export(Basic(), (torch.randn(3, 3), torch.randn(3, 3)), strict=True, dynamic_shapes={"x": {1: torch.export.Dim("dim1", min=2, max=4)}, "y": {1: torch.export.Dim("dim1", min=2, max=4)}})
            ep.module()(torch.ones(3, 2), torch.ones(3, 2))

            from torch.export import Dim

            dim1_x = Dim("dim1_x", min=1, max=10)
            """,
        ),
        # `x + y` needs the two batch dims equal: one `Dim`, though the second call's `y` size is unknown.
        Invalid(
            """
            import torch


            class Add(torch.nn.Module):
                def forward(self, x, y):
                    return x + y


            def rows(n):
                return torch.randn(n, 3)


            ep = torch.export.export(Add(), (torch.randn(2, 3), torch.randn(2, 3)))
            ep.module()(torch.randn(4, 3), torch.randn(4, 3))
            ep.module()(torch.randn(8, 3), rows(8))
            """,
            after="""
            import torch


            class Add(torch.nn.Module):
                def forward(self, x, y):
                    return x + y


            def rows(n):
                return torch.randn(n, 3)


            ep = torch.export.export(Add(), (torch.randn(2, 3), torch.randn(2, 3)), dynamic_shapes={"x": {0: torch.export.Dim("batch", min=2, max=8)}, "y": {0: torch.export.Dim("batch", min=2, max=8)}})
            ep.module()(torch.randn(4, 3), torch.randn(4, 3))
            ep.module()(torch.randn(8, 3), rows(8))
            """,
        ),
        # An example of size 1 along the differing dim: reported, but a Dim cannot be attached to it.
        Invalid(
            """
            import torch

            ep = torch.export.export(torch.nn.Tanh(), (torch.randn(1, 3),))
            ep.module()(torch.randn(4, 3))
            """,
        ),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        if not self.semantic.is_export_call(node):
            return
        parts = export_call_parts(node)
        given = parts.dynamic_shapes
        if given is not None and not (isinstance(given.value, cst.Name) and given.value.value == "None"):
            return
        if parts.args is None or has_star_arguments(node):
            return
        followed = export_event_at(self.semantic, node)
        if followed is None:
            return
        flow, event = followed
        example = flow.evaluate(parts.args, event.env)
        if not isinstance(example, TupleValue):
            return
        params = target_forward_params(self.semantic, flow, event, parts.target)
        if params is not None and len(params) < len(example.items):
            params = None
        # (input index, dim) -> sizes seen at calls, in order; each call's known sizes
        differing: dict[tuple[int, int], list[int]] = {}
        calls: list[dict[tuple[int, int], int]] = []
        details: list[str] = []
        for invocation in flow.invocations:
            if invocation.export is not node or invocation.args is None:
                continue
            if len(invocation.args) != len(example.items):
                continue
            row = None  # found only for a call at other sizes: a span costs a codegen of the file
            known: dict[tuple[int, int], int] = {}
            calls.append(known)
            for index, (expected, seen) in enumerate(zip(example.items, invocation.args, strict=True)):
                if not (isinstance(expected, TensorValue) and isinstance(seen, TensorValue)):
                    continue
                if len(expected.sizes) != len(seen.sizes):
                    continue
                for dim, (before, after) in enumerate(zip(expected.sizes, seen.sizes, strict=True)):
                    if after is not None:
                        known[index, dim] = after
                    if before is None or after is None or before == after:
                        continue
                    differing.setdefault((index, dim), []).append(after)
                    if row is None:
                        row = self.context.lines.location(self.context.span(invocation.call)[0]).row
                    name = f"`{params[index]}`" if params is not None else f"input {index}"
                    details.append(f"{name} dim {dim}: {before} at export, {after} at line {row}")
        if not differing:
            return
        fix = None
        if parts.kwargs is None:
            groups = _shared_dims(example, differing, calls)
            fix = self._fix(node, given, example, differing, groups, params)
        self.report(node, fix, details="; ".join(details[:3]) + ("; ..." if len(details) > 3 else ""))

    def _fix(
        self,
        node: cst.Call,
        given: cst.Arg | None,
        example: TupleValue,
        differing: dict[tuple[int, int], list[int]],
        groups: list[list[tuple[int, int]]],
        params: list[str] | None,
    ):
        if any(example.items[members[0][0]].sizes[members[0][1]] < 2 for members in groups):
            return None  # a Dim on an example of size 0/1 fails to export (EXP102)
        dim_ref, import_edit = self._dim_reference(node)
        used: set[str] = set()
        per_input: dict[int, list[tuple[int, str]]] = {}
        for members in groups:
            before = example.items[members[0][0]].sizes[members[0][1]]
            seen = [size for member in members for size in differing[member]]
            stem = "batch" if all(dim == 0 for _, dim in members) else f"dim{members[0][1]}"
            name, suffix = stem, 2
            while name in used:
                name, suffix = f"{stem}_{suffix}", suffix + 1
            used.add(name)
            top = _covering_power_of_two(max(before, *seen))
            for index, dim in members:
                per_input.setdefault(index, []).append((dim, f'{dim}: {dim_ref}("{name}", min=2, max={top})'))
        specs = []
        for index in range(len(example.items)):
            entries = per_input.get(index)
            specs.append("{" + ", ".join(text for _, text in sorted(entries)) + "}" if entries else "None")
        if params is not None:
            value = "{" + ", ".join(f'"{params[i]}": {spec}' for i, spec in enumerate(specs)) + "}"
        else:
            value = "(" + ", ".join(specs) + ("," if len(specs) == 1 else "") + ")"
        if given is not None:  # an explicit `dynamic_shapes=None`
            edit = dataclasses.replace(
                self.context.replace(given.value, value), claim=self.context.keyword_claim(node, "dynamic_shapes")
            )
        else:
            edit = self.context.add_keyword_argument(node, f"dynamic_shapes={value}")
        return self.fix("Add `dynamic_shapes` with a `Dim` on each dimension whose size changes", import_edit, edit)

    def _dim_reference(self, call: cst.Call) -> tuple[str, Edit | None]:
        """How the file can name `torch.export.Dim` where the call runs, and the import to add
        when it cannot (a `from torch.export import Dim` below a module-level call does not count)."""
        name = self.context.imported_name(_DIM_QUALIFIED, call)
        if name is not None:
            return name, None
        module = self.context.imported_name({"torch.export"}, call)
        if module is not None:
            return f"{module}.Dim", None
        alias = self.context.torch_alias(at=call)
        if alias is not None:
            return f"{alias}.export.Dim", None
        return "torch.export.Dim", self.context.module_import_edit("import torch")
