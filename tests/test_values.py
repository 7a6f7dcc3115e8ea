"""The value analysis (export_lint/analysis/values/): flow-sensitive, interprocedural facts that the
rules EXP104-EXP108 and EXP301-EXP303 query. Each test is a small model whose hazard only a
flow-sensitive or interprocedural analysis sees (or whose look-alike only it clears)."""

from __future__ import annotations

import pytest
from golden import lint

CODES = ("EXP104", "EXP105", "EXP106", "EXP107", "EXP108", "EXP301", "EXP302", "EXP303")


def _found(text: str, codes=CODES) -> list[tuple[int, str]]:
    return [(d.start.row, d.code) for d in lint(text, codes)]


# -- flow sensitivity -----------------------------------------------------------------------------


def test_statement_order_a_name_rebound_to_a_python_number_is_no_longer_a_tensor():
    assert _found(
        """
        import torch

        class M(torch.nn.Module):
            def forward(self, x):
                y = x.sum()
                if y > 0:
                    x = x + 1
                y = 3
                if y > 0:
                    x = x * 2
                return x
        """
    ) == [(7, "EXP301")]


def test_early_return_leaves_the_code_after_it_only_the_other_path():
    source = """
        import torch

        class M(torch.nn.Module):
            def forward(self, x, scale=None):
                s = scale
                if s is None:
                    s = x.mean()
                    if s > 0:
                        return x
                    return -x
                if s > 1:
                    return x * 2
                return x

        torch.export.export(M(), (torch.randn(3),))
        """
    # After the early return `s` is only the unknown argument: the second branch stays silent.
    assert _found(source) == [(9, "EXP301")]


def test_join_at_branches_keeps_what_both_paths_agree_on():
    assert _found(
        """
        import torch

        class M(torch.nn.Module):
            def forward(self, x):
                if x.dim() == 2:
                    h = x.amax(-1)
                else:
                    h = x.amax((-2, -1))
                if h.max() > 0:
                    h = h + 1
                g = x.sum() if x.dim() == 2 else 0.0
                if g > 0:
                    h = h * 2
                return h
        """
    ) == [(10, "EXP301")]


def test_a_ternary_of_two_tensors_is_a_tensor():
    assert _found(
        """
        import torch

        class M(torch.nn.Module):
            def forward(self, x):
                h = x.relu() if x.dim() == 2 else x.tanh()
                return x * float(h.max())

        torch.export.export(M(), (torch.randn(2, 3),), strict=False)
        """,
        ("EXP303",),
    ) == [(7, "EXP303")]


def test_loop_fixpoint_a_name_that_becomes_a_tensor_inside_a_loop():
    assert _found(
        """
        import torch

        class M(torch.nn.Module):
            def forward(self, x):
                total = x.sum()
                count = 0
                for row in x:
                    total = total + row.sum()
                    count = count + 1
                while total > 1:
                    total = total / 2
                if count > 2:
                    total = total * 2
                return total
        """
    ) == [(11, "EXP301")]


def test_tuple_unpacking_comprehensions_and_with():
    assert _found(
        """
        import torch

        class M(torch.nn.Module):
            def forward(self, x):
                with torch.no_grad():
                    low, high = x.aminmax()
                    parts = [p.sum() for p in x.split(2)]
                if low > 0:
                    x = x + 1
                if torch.stack(parts).max() > 0:
                    x = x * 2
                return x
        """
    ) == [(9, "EXP301"), (11, "EXP301")]


def test_self_training_reads_as_false_not_as_a_reason_to_skip_the_condition():
    assert _found(
        """
        import torch

        class M(torch.nn.Module):
            def forward(self, x):
                if self.training and x.sum() > 0:
                    x = x + 1
                if self.training:
                    if x.mean() > 0:
                        x = x * 2
                if not self.training and x.max() > 0:
                    x = x - 1
                return x
        """
    ) == [(11, "EXP301")]


# -- values that were lost before -----------------------------------------------------------------


def test_registered_buffers_and_parameters_are_tensors():
    assert _found(
        """
        import torch

        class M(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.register_buffer("threshold", torch.tensor(0.5))
                self.scale = torch.nn.Parameter(torch.ones(1))

            def forward(self, x):
                if self.threshold > 0:
                    x = x + 1
                for _ in range(self.scale.int().item()):
                    x = x * 2
                return x
        """
    ) == [(11, "EXP301"), (13, "EXP302")]


def test_numel_of_a_data_shaped_tensor_and_iterating_it():
    assert _found(
        """
        import torch

        class M(torch.nn.Module):
            def forward(self, x):
                kept = x[x > 0]
                n = kept.numel()
                out = x.sum()
                for i in range(n):
                    out = out + i
                return out
        """
    ) == [(9, "EXP302")]


# -- across functions -------------------------------------------------------------------------------


def test_unannotated_helper_parameters_take_their_values_from_call_sites():
    assert _found(
        """
        import torch


        def clamp_positive(values):
            if values.min() < 0:
                return values.clamp(min=0)
            return values


        class M(torch.nn.Module):
            def forward(self, x: torch.Tensor, y):
                return self.combine(clamp_positive(x.float()), 3)

            def combine(self, a, k):
                if k > 2:
                    a = a * k
                return a
        """
    ) == [(6, "EXP301")]


def test_what_a_helper_returns_is_known_at_the_caller():
    assert _found(
        """
        import torch


        def scores(x):
            return x.softmax(-1)


        class M(torch.nn.Module):
            def forward(self, x):
                s = scores(x)
                top = self.best(s)
                if top > 0.5:
                    return x
                return -x

            def best(self, s):
                return s.max().item()
        """
    ) == [(13, "EXP301")]


def test_submodule_calls_give_tensors_and_pass_them_to_the_submodule_forward():
    assert _found(
        """
        import torch
        from torch import nn


        class Gate(nn.Module):
            def forward(self, h, bias):
                if h.mean() > bias:
                    return h
                return -h


        class Encoder(nn.Module):
            def __init__(self):
                super().__init__()
                self.proj = nn.Linear(4, 4)
                self.gates = nn.ModuleList([Gate() for _ in range(2)])

            def forward(self, x):
                h = self.proj(x)
                for gate in self.gates:
                    h = gate(h, 0.0)
                return h


        class Model(nn.Module):
            def __init__(self):
                super().__init__()
                self.encoder = Encoder()

            def forward(self, x, mask):
                h = self.encoder(x)
                while h.abs().max() > 10:
                    h = h / 2
                return h

        torch.export.export(Model(), (torch.randn(2, 4), torch.ones(2)))
        """
    ) == [(8, "EXP301"), (33, "EXP301")]


def test_a_dynamic_input_passed_to_a_helper_keeps_its_dynamic_dims():
    assert _found(
        """
        import torch
        from torch.export import Dim


        class M(torch.nn.Module):
            def forward(self, x):
                return self.head(x)

            def head(self, h):
                assert h.shape[0] == 8
                return h.view(32)

        torch.export.export(M(), (torch.randn(8, 4),), dynamic_shapes={"x": {0: Dim("batch")}})
        """,
        ("EXP104", "EXP105"),
    ) == [(11, "EXP104"), (12, "EXP105")]


def test_a_rebound_input_is_the_input_until_it_is_rebound():
    assert _found(
        """
        import torch
        from torch.export import Dim


        class M(torch.nn.Module):
            def forward(self, x):
                assert x.shape[0] == 8
                x = x.flatten(1)
                assert x.shape[0] == 8
                return x

        torch.export.export(M(), (torch.randn(8, 4),), dynamic_shapes={"x": {0: Dim("batch")}})
        """,
        ("EXP104",),
    ) == [(8, "EXP104")]


# -- precision: unknown stays silent ----------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "n = self.config.n if self.config else x.sum()\n        if n > 0:\n            x = x + 1",
        "flags = [True, x.sum()]\n        if flags[0]:\n            x = x + 1",
        "for v in x.tolist():\n            x = x + v",
        "a, b = x.shape\n        if a > b:\n            x = x + 1",
        "if helper(x):\n            x = x + 1",
    ],
)
def test_unknown_or_static_values_stay_silent(body):
    source = f"""
import torch
from elsewhere import helper


class M(torch.nn.Module):
    def forward(self, x):
        {body}
        return x
"""
    assert _found(source) == []


def test_recursion_and_deep_call_chains_terminate():
    assert (
        _found(
            """
        import torch


        def down(x, n):
            if n == 0:
                return x
            return down(x * 2, n - 1)


        class M(torch.nn.Module):
            def forward(self, x):
                y = down(x, 3)
                return self.again(y)

            def again(self, y):
                return self.again(y)
        """
        )
        == []
    )


def test_a_tensor_sized_by_a_number_read_from_data_is_data_shaped():
    # `x.view(n.item(), -1)` exports (torch 2.14.1); branching on or looping over its size does not.
    assert _found(
        """
        import torch

        class M(torch.nn.Module):
            def forward(self, x, n):
                rows = x.view(n.item(), -1)
                if rows.shape[0] > 1:
                    x = x + 1
                filled = torch.full((2,), n.item())
                if filled.shape[0] > 1:
                    x = x * 2
                for r in torch.zeros(n.item(), 2):
                    x = x - r.sum()
                return x + rows.sum().reshape(1)

        torch.export.export(M(), (torch.randn(8, 4), torch.tensor(4)))
        """
    ) == [(7, "EXP301"), (12, "EXP302")]


@pytest.mark.parametrize(
    "body",
    [
        "return x * math.floor(n.item())",  # math on a number read from data exports
        'return x * len(f"{x.sum()}")',  # no format spec: non-strict export formats a fake tensor
        "return x * int(x.shape[0])",  # a size, not data
        "return x * sum(r for r in zip(x, x))[0]",  # zip over a tensor of static length
    ],
)
def test_look_alikes_of_the_new_sinks_stay_silent(body):
    source = f"""
import math

import torch


class M(torch.nn.Module):
    def forward(self, x, n):
        {body}


torch.export.export(M(), (torch.randn(8, 4), torch.tensor(4)), strict=False)
"""
    assert _found(source) == []


def test_conversions_of_numbers_read_from_data_are_reported_in_non_strict_mode_only():
    source = """
        import torch

        class M(torch.nn.Module):
            def forward(self, x, n):
                return x * int(n.item())

        torch.export.export(M(), (torch.randn(8, 4), torch.tensor(4)), strict={strict})
        """
    assert _found(source.replace("{strict}", "False"), ("EXP303",)) == [(6, "EXP303")]
    assert _found(source.replace("{strict}", "True"), ("EXP303",)) == []


def test_a_helper_called_only_in_training_is_not_analysed():
    assert (
        _found(
            """
        import torch

        class M(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.register_buffer("shift", torch.zeros(()))

            def forward(self, x):
                if self.training:
                    self.adjust(x)
                return x * 2

            def adjust(self, x):
                if self.shift > 0:
                    self.shift = x.max()
        """
        )
        == []
    )


def test_a_callee_defined_before_the_submodule_forward_that_calls_it_gets_its_values():
    assert _found(
        """
        import torch
        from torch import nn


        class Head(nn.Module):
            def score(self, logits):
                if logits.max() > 0:
                    return logits
                return -logits

            def forward(self, h):
                return self.score(h.softmax(-1))


        class Model(nn.Module):
            def __init__(self):
                super().__init__()
                self.head = Head()

            def forward(self, x, y):
                return self.head(x * y)

        torch.export.export(Model(), (torch.randn(2, 4), torch.randn(2, 4)))
        """
    ) == [(8, "EXP301")]


def test_a_list_of_tensors_built_by_append_is_stacked_into_a_tensor():
    assert _found(
        """
        import torch

        class M(torch.nn.Module):
            def forward(self, x):
                parts = []
                for row in x:
                    parts.append(row.relu())
                scores = torch.stack(parts)
                if scores.max() > 0:
                    return scores
                names = []
                names.append("a")
                if len(names) > 0:
                    return x
                return -x
        """
    ) == [(10, "EXP301")]


def test_try_while_true_walrus_closures_and_odd_statements():
    assert _found(
        """
        import torch

        class M(torch.nn.Module):
            def forward(self, x):
                try:
                    y = x.sum()
                except RuntimeError:
                    y = None
                while True:
                    if (z := x.mean()) > 0:
                        break
                    x = x * 2
                def inner():
                    return z > 1
                global SEEN
                del y
                match x.dim():
                    case 2:
                        x = x + 1
                return x, inner, (lambda v: v.sum() > 0)
        """
    ) == [(11, "EXP301")]


def test_unusual_functions_do_not_break_the_analysis():
    source = """
        import torch

        class M(torch.nn.Module):
            async def helper(self, x):
                await x
            def gen(self, *args, **kwargs):
                yield from args
            @staticmethod
            def static(a, b=2, *, c):
                return a
            def forward(self, x, *rest, **extra):
                self.static(x, c=1)
                list(self.gen(x, *rest))
                first, *others = x.unbind(0)
                return first if others else x
        """
    assert _found(source) == []
