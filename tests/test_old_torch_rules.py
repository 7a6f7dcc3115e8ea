"""The rules for hazards only old torch releases have (EXP109 < 2.6, EXP207 < 2.10, EXP504 < 2.5):
each reports only for a target inside its gate, and stays silent where the matrix found no failure."""

from __future__ import annotations

import textwrap

import pytest

from export_lint.config import Settings
from export_lint.engine import lint_text


def _codes(code: str, select: str, torch_version: str) -> list[str]:
    settings = Settings(select=(select,), torch_version=torch_version, traced="all-modules")
    return [d.code for d in lint_text(textwrap.dedent(code), "model.py", settings)]


ROUND = """
import torch
from torch.export import Dim

class Model(torch.nn.Module):
    def forward(self, x):
        return x * {expr}

torch.export.export(Model(), (torch.randn(8, 4),), dynamic_shapes={{"x": {{0: Dim("batch")}}}})
"""


@pytest.mark.parametrize(
    ("expr", "reported"),
    [
        ("round(x.shape[0] / 2)", True),
        ("round(x.size(0) * 0.5)", True),
        ("round(x.shape[0])", False),  # the size itself: no `round` node in the graph
        ("round(x.shape[1] / 2)", False),  # a static dim
        ("(x.shape[0] + 1) // 2", False),
    ],
)
def test_round_of_a_dynamic_size_is_reported_before_2_6(expr, reported):
    code = ROUND.format(expr=expr)
    assert _codes(code, "EXP109", "2.5") == (["EXP109"] if reported else [])
    assert _codes(code, "EXP109", "2.6") == []


NEW_ATTRIBUTE = """
import torch
{imports}

class Cache({base}):
    def __init__(self):
        super().__init__()
        {init}

    def forward(self, x):
        self.last = x * 2
        return x + 1
"""


@pytest.mark.parametrize(
    ("imports", "base", "init", "reported"),
    [
        ("", "torch.nn.Module", "pass", True),
        ("", "torch.nn.Module", "self.last = None", True),  # None in __init__: 2.7 exports strictly by default
        ("", "torch.nn.Module", "self.last = torch.zeros(3)", False),  # EXP204/EXP205's concern
        ("from transformers import PreTrainedModel", "PreTrainedModel", "pass", False),  # the base may set it
    ],
)
def test_attribute_created_in_forward_is_reported_before_2_10(imports, base, init, reported):
    code = NEW_ATTRIBUTE.format(imports=imports, base=base, init=init)
    assert _codes(code, "EXP207", "2.7") == (["EXP207"] if reported else [])
    assert _codes(code, "EXP207", "2.10") == []


def test_an_attribute_a_local_base_sets_is_not_created_in_forward():
    code = """
    import torch

    class Base(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.last = None

    class Cache(Base):
        def forward(self, x):
            self.last = x * 2
            self.other = x + 1
            return x + 1
    """
    assert _codes(code, "EXP207", "2.5") == ["EXP207"]  # `other` only


AUTOCAST = """
import torch

class Model(torch.nn.Module):
    def forward(self, x):
        with torch.autocast("cpu", enabled=False):
            return x + 1

torch.export.export(Model(), (torch.randn(2),){mode})
"""


@pytest.mark.parametrize(("mode", "reported"), [("", True), (", strict=True", True), (", strict=False", False)])
def test_autocast_region_is_reported_for_strict_export_on_2_4(mode, reported):
    code = AUTOCAST.format(mode=mode)
    assert _codes(code, "EXP504", "2.4") == (["EXP504"] if reported else [])
    assert _codes(code, "EXP504", "2.5") == []


def test_an_attribute_none_in_init_is_reported_only_for_strict_export():
    code = """
    import torch

    class Cache(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.last = None

        def forward(self, x):
            self.last = x * 2
            return x + 1

    torch.export.export(Cache(), (torch.randn(3),){mode})
    """
    assert _codes(code.format(mode=", strict=True"), "EXP207", "2.9") == ["EXP207"]
    assert _codes(code.format(mode=""), "EXP207", "2.7") == ["EXP207"]  # strict by default before 2.8
    assert _codes(code.format(mode=""), "EXP207", "2.8") == []
    assert _codes(code.format(mode=", strict=False"), "EXP207", "2.5") == []
