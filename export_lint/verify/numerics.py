"""Exported program against eager: fresh random inputs, the dims export made dynamic, tolerances."""

from __future__ import annotations

import dataclasses
from typing import Any

#: Tolerances of the eager-vs-exported comparison (float32 on CPU runs the same kernels either way).
RTOL = 1e-4
ATOL = 1e-5
#: Other sizes each dynamic dim is exercised at.
SIZES_PER_DIM = 2


@dataclasses.dataclass
class Agreement:
    """Whether the exported program matched eager on one set of inputs."""

    inputs: str  # e.g. "fresh inputs at the example shapes" or "s0 (x dim 0) = 3"
    agree: bool
    max_abs_diff: float | None = None
    detail: str | None = None


@dataclasses.dataclass
class DynamicDim:
    """A dim of an input that the exported program accepts at more than one size."""

    input_index: int  # index among the tensor inputs
    dim: int
    symbol: str
    example: int
    low: int
    high: int | None  # None: unbounded


def tensor_leaves(value: Any) -> list:
    """Every tensor inside a (pytree-registered) structure, in pytree order."""
    import torch
    from torch.utils import _pytree

    return [leaf for leaf in _pytree.tree_leaves(value) if isinstance(leaf, torch.Tensor)]


def _fresh_tensor(example, shape, generator):
    """A new random tensor like ``example`` (same dtype, device, value range) with ``shape``."""
    import torch

    if example.dtype == torch.bool:
        return torch.rand(shape, generator=generator).to(example.device) > 0.5
    if example.is_floating_point():
        values = example.detach().float()
        mean = values.mean().item() if values.numel() else 0.0
        std = values.std().item() if values.numel() > 1 else 1.0
        fresh = torch.randn(shape, generator=generator) * (std if std == std else 1.0) + mean
        return fresh.to(dtype=example.dtype, device=example.device)
    if example.numel() == 0:
        return torch.zeros(shape, dtype=example.dtype, device=example.device)
    low, high = int(example.min()), int(example.max())
    return torch.randint(low, high + 1, shape, generator=generator).to(dtype=example.dtype, device=example.device)


def fresh_inputs(args: tuple, kwargs: dict, seed: int, shapes: dict[int, tuple[int, ...]] | None = None):
    """(args, kwargs) with every tensor replaced by a fresh random one; ``shapes`` resizes tensor i."""
    import torch
    from torch.utils import _pytree

    generator = torch.Generator().manual_seed(seed)
    counter = iter(range(1 << 30))
    shapes = shapes or {}

    def replace(leaf):
        if not isinstance(leaf, torch.Tensor):
            return leaf
        index = next(counter)
        return _fresh_tensor(leaf, shapes.get(index, tuple(leaf.shape)), generator)

    return _pytree.tree_map(replace, (args, kwargs))


def dynamic_dims(program, args: tuple, kwargs: dict) -> list[DynamicDim]:
    """The input dims the exported program keeps symbolic, with their allowed ranges."""
    import torch

    signature = program.graph_signature
    user_inputs = set(signature.user_inputs)
    placeholders = [
        node
        for node in program.graph.nodes
        if node.op == "placeholder" and node.name in user_inputs and isinstance(node.meta.get("val"), torch.Tensor)
    ]
    examples = tensor_leaves((args, kwargs))
    if len(placeholders) != len(examples):
        raise ValueError(f"{len(placeholders)} tensor inputs in the program, {len(examples)} passed")
    found = []
    for index, (node, example) in enumerate(zip(placeholders, examples, strict=True)):
        for dim, size in enumerate(node.meta["val"].shape):
            if not isinstance(size, torch.SymInt):
                continue
            expr = size.node.expr
            if not expr.is_Symbol:
                continue  # a derived dim follows its root symbol
            bounds = program.range_constraints.get(expr)
            low = int(bounds.lower) if bounds is not None else 2
            upper = bounds.upper if bounds is not None else None
            # torch's IntInfinity (``int_oo``, an unbounded Dim) says ``is_finite`` and cannot be an int
            high = int(upper) if upper is not None and upper.is_finite and "oo" not in str(upper) else None
            found.append(DynamicDim(index, dim, str(expr), int(example.shape[dim]), low, high))
    return found


def other_sizes(dim: DynamicDim, count: int = SIZES_PER_DIM) -> list[int]:
    """The smallest allowed sizes other than the example's (small keeps big models cheap)."""
    sizes = []
    size = dim.low
    while len(sizes) < count and (dim.high is None or size <= dim.high):
        if size != dim.example:
            sizes.append(size)
        size += 1
    return sizes


def _max_abs_diff(left: list, right: list) -> float:
    worst = 0.0
    for a, b in zip(left, right, strict=True):
        if a.numel():
            worst = max(worst, (a.detach().double() - b.detach().double()).abs().max().item())
    return worst


def compare(target, program, args: tuple, kwargs: dict, label: str) -> Agreement:
    """Run eager ``target`` and ``program.module()`` on the same inputs and compare every tensor output."""
    import torch

    try:
        with torch.no_grad():
            expected = tensor_leaves(target(*args, **kwargs))
            actual = tensor_leaves(program.module()(*args, **kwargs))
    except Exception as error:
        from export_lint.verify.recorder import first_line

        return Agreement(label, False, detail=first_line(error))
    if len(expected) != len(actual):
        return Agreement(label, False, detail=f"{len(actual)} tensor outputs exported, {len(expected)} eager")
    for a, b in zip(expected, actual, strict=True):
        if a.shape != b.shape:
            return Agreement(label, False, detail=f"output shape {tuple(b.shape)} exported, {tuple(a.shape)} eager")
    expected = [t.float() if t.dtype == torch.bool else t for t in expected]
    actual = [t.float() if t.dtype == torch.bool else t for t in actual]
    agree = all(
        torch.allclose(b, a, rtol=RTOL, atol=ATOL, equal_nan=True) for a, b in zip(expected, actual, strict=True)
    )
    return Agreement(label, agree, _max_abs_diff(expected, actual))


def resized_shapes(args: tuple, kwargs: dict, symbol: str, size: int, dims: list[DynamicDim]) -> dict:
    """Tensor shapes with every dim bound to ``symbol`` set to ``size``."""
    shapes: dict[int, tuple[int, ...]] = {}
    examples = tensor_leaves((args, kwargs))
    for dim in dims:
        if dim.symbol != symbol:
            continue
        shape = list(shapes.get(dim.input_index, tuple(examples[dim.input_index].shape)))
        shape[dim.dim] = size
        shapes[dim.input_index] = tuple(shape)
    return shapes
