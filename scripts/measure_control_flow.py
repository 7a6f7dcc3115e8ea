"""Measure how the installed torch.export handles data-dependent control flow and shape arithmetic.

Each case is a tiny module exported with strict=True and strict=False. The outcome is one of
``exports`` (and the exported program matches eager on fresh inputs), ``diverges`` (exports, but
differs from eager or fails when called on fresh inputs), or the exception type and first line.
Run: ``python scripts/measure_control_flow.py [--json out.json] [-k substring]``. The table it prints
is what the docs of EXP104-EXP109 and EXP301-EXP309 quote.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import warnings
from collections.abc import Callable

import torch
from torch.export import Dim


@dataclasses.dataclass
class Case:
    name: str
    forward: Callable[..., torch.Tensor]
    args: tuple
    fresh: tuple  # inputs for the eager-vs-exported comparison
    dynamic_shapes: object = None


def _module(forward: Callable[..., torch.Tensor]) -> torch.nn.Module:
    class Traced(torch.nn.Module):
        def forward(self, x, y=None):
            return forward(x) if y is None else forward(x, y)

    return Traced().eval()


BATCH = Dim("batch", min=4, max=64)  # min 4: keeps 0/1 specialization out of the halves
DYN0 = {"x": {0: BATCH}}
x8 = torch.randn(8, 4)
x6 = torch.randn(6, 4)


def _if_sum(x):
    if x.sum() > 0:
        return x + 1
    return x - 1


def _while_tensor(x):
    while x.abs().max() < 10:
        x = x * 2
    return x


def _bool_tensor(x):
    if bool((x > 0).any()):
        return x + 1
    return x - 1


def _int_index(x, i):
    return x[int(i)]


def _int_arith(x, i):
    return x * int(i)


def _item_branch(x):
    if x.max().item() > 0:
        return x + 1
    return x - 1


def _item_slice(x, n):
    return x[: n.item()]


def _item_shape(x, n):
    return torch.zeros(n.item(), 2) + x.sum()


def _item_reshape(x, n):
    return x.reshape(n.item(), -1)


def _item_range_loop(x, n):
    out = x
    for _ in range(n.item()):
        out = out + 1
    return out


def _item_arith(x, s):
    return x * s.item()


def _item_check_is_size_shape(x, n):
    k = n.item()
    torch._check_is_size(k)
    return torch.zeros(k, 2) + x.sum()


def _item_check_slice(x, n):
    k = n.item()
    torch._check(k >= 0)
    torch._check(k <= x.shape[0])
    return x[:k]


def _tolist_branch(x, t):
    out = x
    for v in t.tolist():
        if v > 0:
            out = out + v
    return out


def _tolist_arith(x, t):
    out = x
    for v in t.tolist():
        out = out + v
    return out


def _tolist_slice(x, t):
    a, b = t.tolist()
    return x[a:b]


def _tolist_shape(x, t):
    return torch.zeros(t.tolist()) + x.sum()


def _nonzero_branch(x):
    idx = torch.nonzero(x > 0)
    if idx.shape[0] > 0:
        return x + 1
    return x - 1


def _nonzero_noshape(x):
    idx = torch.nonzero(x > 0)
    return idx.float().sum() + x.sum()


def _nonzero_len_range(x):
    idx = torch.nonzero(x > 0)
    out = x.sum()
    for i in range(len(idx)):
        out = out + i
    return out


def _mask_index(x):
    return x[x > 0].sum()


def _mask_shape_branch(x):
    y = x[x > 0]
    if y.shape[0] > 3:
        return y.sum()
    return y.mean()


def _mask_reshape(x):
    y = x[x > 0]
    return y.reshape(-1, 2).sum()


def _mask_numel_branch(x):
    y = x[x > 0]
    if y.numel() == 0:
        return x.sum()
    return y.sum()


def _torch_cond(x):
    return torch.cond(x.sum() > 0, lambda t: t + 1, lambda t: t - 1, (x,))


def _shape_branch_static(x):
    if x.shape[1] > 2:
        return x + 1
    return x - 1


# --- shape arithmetic with a declared-dynamic dim 0 --------------------------------------------
def _round_div(x):
    return x * round(x.shape[0] / 2)


def _int_div(x):
    return x * int(x.shape[0] / 2)


def _floordiv(x):
    return x * (x.shape[0] // 2)


def _math_ceil(x):
    return x * math.ceil(x.shape[0] / 2)


def _math_floor(x):
    return x * math.floor(x.shape[0] / 2)


def _math_sqrt(x):
    return x * math.sqrt(x.shape[0])


def _slice_floordiv(x):
    return x[: x.shape[0] // 2]


def _slice_round(x):
    return x[: round(x.shape[0] / 2)]


def _slice_start_floordiv(x):
    return x[x.shape[0] // 2 :]


def _slice_minus_one(x):
    return x[: x.shape[0] - 1]


def _new_zeros_half(x):
    return x.new_zeros(round(x.shape[0] / 2))


def _reshape_literal(x):
    return x.reshape(8, -1)


def _view_literal(x):
    return x.view(8, 4)


def _reshape_symbolic(x):
    return x.reshape(x.shape[0], -1)


def _reshape_minus1(x):
    return x.reshape(-1, 2)


def _assert_eq(x):
    assert x.shape[0] == 8
    return x + 1


def _assert_ge(x):
    assert x.shape[0] >= 2
    return x + 1


def _if_eq(x):
    if x.shape[0] == 8:
        return x + 1
    return x - 1


def _if_gt(x):
    if x.shape[0] > 4:
        return x + 1
    return x - 1


def _range_shape(x):
    out = x[0]
    for i in range(x.shape[0]):
        out = out + x[i]
    return out


def _float_shape(x):
    return x * float(x.shape[0])


def _torch_tensor_shape(x):
    return x * torch.tensor(x.shape[0])


def _size_eq_literal(x):
    return x.expand(8, 4) + 1


def _check_eq(x):
    torch._check(x.shape[0] == 8)
    return x + 1


def _split_literal(x):
    a, b = x.split(4)
    return a + b


def _chunk(x):
    a, b = x.chunk(2)
    return a.sum() + b.sum()


def _newzeros_literal(x):
    return x + torch.zeros(8, 4)


def _int_shape(x):
    return x * int(x.shape[0])


def _shape_mod(x):
    return x * (x.shape[0] % 3 + 1)


def _numpy_shape(x):
    import numpy as np

    return x * int(np.ceil(x.shape[0] / 2))


n3 = torch.tensor(3)
n5 = torch.tensor(5)


def _item_view_first(x, n):
    return x.view(n.item(), -1)


def _item_view_last(x, n):
    return x.reshape(-1, n.item())


def _item_expand(x, n):
    return x[:1].expand(n.item(), 4).sum() + x.sum()


def _item_repeat(x, n):
    return x.repeat(n.item(), 1).sum()


def _item_arange(x, n):
    return torch.arange(n.item()).sum() + x.sum()


def _item_new_zeros(x, n):
    return x.new_zeros(n.item()).sum() + x.sum()


def _tolist_split(x, t):
    return torch.split(x, t.tolist())[0].sum()


def _item_split_size(x, n):
    return torch.split(x, n.item())[0].sum()


def _tolist_zip(x, t):
    out = x.sum()
    for a, b in zip(t.tolist(), t.tolist(), strict=True):
        out = out + a * b
    return out


def _tolist_range(x, t):
    out = x
    for _ in range(t.tolist()[0]):
        out = out + 1
    return out


def _mask_view_shape(x):
    y = x[x > 0]
    return y.view(y.shape[0], 1).sum()


def _mask_zeros_shape(x):
    y = x[x > 0]
    return torch.zeros(y.shape[0]).sum() + y.sum()


def _item_slice_view(x, n):
    return x[: n.item()].view(-1, 4).sum()


def _int_size(x, n):
    return torch.zeros(int(n), 2) + x.sum()


def _item_full(x, n):
    return torch.full((n.item(),), 1.0).sum() + x.sum()


def _iter_tensor_rows_data_shaped(x):
    return sum(r.sum() for r in x[x.sum(1) > 0])


i2 = torch.tensor(2)
i1 = torch.tensor(1)
pos = torch.randn(8, 4).abs() + 0.1
neg = -pos
t_ab = torch.tensor([1, 5])
t_ab2 = torch.tensor([2, 4])
t_vals = torch.tensor([1.0, -2.0, 3.0])
t_vals2 = torch.tensor([-1.0, 2.0, 0.5])
shape_t = torch.tensor([3, 2])
shape_t2 = torch.tensor([4, 2])

CASES = [
    # data-dependent control flow and values
    Case("if x.sum() > 0", _if_sum, (pos,), (neg,)),
    Case("while tensor value", _while_tensor, (torch.full((3,), 0.5),), (torch.full((3,), 0.1),)),
    Case("bool(t) in if", _bool_tensor, (pos,), (neg,)),
    Case("int(t) as index", _int_index, (x8, i2), (x8, i1)),
    Case("int(t) in arithmetic", _int_arith, (x8, i2), (x8, torch.tensor(3))),
    Case(".item() in if", _item_branch, (pos,), (neg,)),
    Case(".item() as slice bound", _item_slice, (x8, n3), (x8, n5)),
    Case(".item() as new tensor size", _item_shape, (x8, n3), (x8, n5)),
    Case(".item() into reshape", _item_reshape, (x8, torch.tensor(4)), (x8, torch.tensor(2))),
    Case(".item() into range() loop", _item_range_loop, (x8, n3), (x8, n5)),
    Case(".item() in arithmetic", _item_arith, (x8, torch.tensor(2.0)), (x8, torch.tensor(3.0))),
    Case(".item() + _check_is_size, size", _item_check_is_size_shape, (x8, n3), (x8, n5)),
    Case(".item() + _check, slice", _item_check_slice, (x8, n3), (x8, n5)),
    Case(".tolist() values in if", _tolist_branch, (x8, t_vals), (x8, t_vals2)),
    Case(".tolist() values in arithmetic", _tolist_arith, (x8, t_vals), (x8, t_vals2)),
    Case(".tolist() as slice bounds", _tolist_slice, (x8, t_ab), (x8, t_ab2)),
    Case(".tolist() as a size", _tolist_shape, (x8, shape_t), (x8, shape_t2)),
    Case("nonzero, shape in if", _nonzero_branch, (pos,), (neg,)),
    Case("nonzero, no shape use", _nonzero_noshape, (pos,), (torch.randn(8, 4),)),
    Case("nonzero, range(len(idx))", _nonzero_len_range, (torch.randn(8, 4),), (torch.randn(8, 4),)),
    Case("mask index only", _mask_index, (torch.randn(8, 4),), (torch.randn(8, 4),)),
    Case("mask, shape in if", _mask_shape_branch, (pos,), (neg,)),
    Case("mask, reshape(-1, 2)", _mask_reshape, (pos,), (pos,)),
    Case("mask, numel()==0 in if", _mask_numel_branch, (pos,), (neg,)),
    Case(".item() into view(n, -1)", _item_view_first, (x8, torch.tensor(4)), (x8, torch.tensor(2))),
    Case(".item() into reshape(-1, n)", _item_view_last, (x8, torch.tensor(2)), (x8, torch.tensor(4))),
    Case(".item() into expand", _item_expand, (x8, n3), (x8, n5)),
    Case(".item() into repeat", _item_repeat, (x8, n3), (x8, n5)),
    Case(".item() into arange", _item_arange, (x8, n3), (x8, n5)),
    Case(".item() into new_zeros", _item_new_zeros, (x8, n3), (x8, n5)),
    Case(".item() into torch.full size", _item_full, (x8, n3), (x8, n5)),
    Case("int(t) as a new tensor size", _int_size, (x8, n3), (x8, n5)),
    Case(".tolist() as torch.split sizes", _tolist_split, (x8, torch.tensor([3, 5])), (x8, torch.tensor([2, 6]))),
    Case(".item() as torch.split size", _item_split_size, (x8, n3), (x8, n5)),
    Case("zip over .tolist()", _tolist_zip, (x8, t_ab), (x8, t_ab2)),
    Case(".tolist()[0] into range()", _tolist_range, (x8, t_ab), (x8, t_ab2)),
    Case(".item() slice, then view(-1, 4)", _item_slice_view, (x8, n3), (x8, n5)),
    Case("mask, view(y.shape[0], 1)", _mask_view_shape, (pos,), (pos,)),
    Case("mask, zeros(y.shape[0])", _mask_zeros_shape, (pos,), (pos,)),
    Case("iterate a mask-indexed tensor", _iter_tensor_rows_data_shaped, (pos,), (pos,)),
    Case("torch.cond (the fix)", _torch_cond, (pos,), (neg,)),
    Case("if on static dim", _shape_branch_static, (x8,), (x6,), DYN0),
    # shape arithmetic on a declared-dynamic dim 0 (batch: Dim min=2 max=64)
    Case("x * round(x.shape[0] / 2)", _round_div, (x8,), (x6,), DYN0),
    Case("x * int(x.shape[0] / 2)", _int_div, (x8,), (x6,), DYN0),
    Case("x * (x.shape[0] // 2)", _floordiv, (x8,), (x6,), DYN0),
    Case("x * math.ceil(x.shape[0] / 2)", _math_ceil, (x8,), (x6,), DYN0),
    Case("x * math.floor(x.shape[0] / 2)", _math_floor, (x8,), (x6,), DYN0),
    Case("x[: x.shape[0] // 2]", _slice_floordiv, (x8,), (x6,), DYN0),
    Case("x[: round(x.shape[0] / 2)]", _slice_round, (x8,), (x6,), DYN0),
    Case("x[x.shape[0] // 2 :]", _slice_start_floordiv, (x8,), (x6,), DYN0),
    Case("x[: x.shape[0] - 1]", _slice_minus_one, (x8,), (x6,), DYN0),
    Case("x.new_zeros(round(x.shape[0] / 2))", _new_zeros_half, (x8,), (x6,), DYN0),
    Case("math.sqrt(x.shape[0])", _math_sqrt, (x8,), (x6,), DYN0),
    Case("x * int(np.ceil(x.shape[0] / 2))", _numpy_shape, (x8,), (x6,), DYN0),
    Case("x * int(x.shape[0])", _int_shape, (x8,), (x6,), DYN0),
    Case("x * (x.shape[0] % 3 + 1)", _shape_mod, (x8,), (x6,), DYN0),
    Case("x * float(x.shape[0])", _float_shape, (x8,), (x6,), DYN0),
    Case("torch.tensor(x.shape[0])", _torch_tensor_shape, (x8,), (x6,), DYN0),
    Case("reshape(8, -1)", _reshape_literal, (x8,), (x6,), DYN0),
    Case("view(8, 4)", _view_literal, (x8,), (x6,), DYN0),
    Case("expand(8, 4)", _size_eq_literal, (x8,), (x6,), DYN0),
    Case("x + torch.zeros(8, 4)", _newzeros_literal, (x8,), (x6,), DYN0),
    Case("split(4) into 2 names", _split_literal, (x8,), (x6,), DYN0),
    Case("chunk(2) into 2 names", _chunk, (x8,), (x6,), DYN0),
    Case("reshape(x.shape[0], -1)", _reshape_symbolic, (x8,), (x6,), DYN0),
    Case("reshape(-1, 2)", _reshape_minus1, (x8,), (x6,), DYN0),
    Case("assert x.shape[0] == 8", _assert_eq, (x8,), (x6,), DYN0),
    Case("assert x.shape[0] >= 2", _assert_ge, (x8,), (x6,), DYN0),
    Case("torch._check(x.shape[0] == 8)", _check_eq, (x8,), (x6,), DYN0),
    Case("if x.shape[0] == 8", _if_eq, (x8,), (x6,), DYN0),
    Case("if x.shape[0] > 4", _if_gt, (x8,), (x6,), DYN0),
    Case("for i in range(x.shape[0])", _range_shape, (x8,), (x6,), DYN0),
]


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    line = next((part for part in text if part.strip()), "")
    return f"{type(error).__name__}: {line[:160]}"


def _same(a: object, b: object) -> bool:
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        return a.shape == b.shape and torch.allclose(a.float(), b.float())
    return a == b


def measure(case: Case, strict: bool) -> str:
    module = _module(case.forward)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.export.export(module, case.args, dynamic_shapes=case.dynamic_shapes, strict=strict)
    except Exception as error:
        return _first_line(error)
    try:
        eager = module(*case.fresh)
    except Exception as error:
        return f"exports (eager fails on fresh input: {_first_line(error)})"
    try:
        exported = program.module()(*case.fresh)
    except Exception as error:
        return f"diverges: call fails: {_first_line(error)}"
    return "exports" if _same(eager, exported) else "diverges: output differs from eager"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="write the results as JSON here")
    parser.add_argument("-k", default="", help="only cases whose name contains this")
    options = parser.parse_args(argv)
    torch._dynamo.config.verbose = False
    results = []
    print(f"torch {torch.__version__}")
    for case in CASES:
        if options.k not in case.name:
            continue
        row = {"case": case.name, "dynamic": case.dynamic_shapes is not None}
        for strict in (True, False):
            torch._dynamo.reset()
            row["strict" if strict else "non_strict"] = measure(case, strict)
        results.append(row)
        print(f"| {case.name} | {row['strict']} | {row['non_strict']} |", flush=True)
    if options.json:
        with open(options.json, "w") as handle:
            json.dump({"torch": torch.__version__, "results": results}, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
