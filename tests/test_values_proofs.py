"""The sinks the value analysis added, against the real torch.export: each fixture is reported
with its code by export-lint, and exporting it fails on the installed torch (2.14.1 when written)."""

from __future__ import annotations

import textwrap

import pytest
from golden import lint

torch = pytest.importorskip("torch")

CASES = {
    "int() of .item() (non-strict)": ("EXP303", "return x * int(n.item())", "False"),
    "float() of .item() (non-strict)": ("EXP303", "return x * float(n.item())", "False"),
    "int(len(mask-indexed)) (non-strict)": ("EXP303", "return x * int(len(x[x > 0]))", "False"),
    "math.ceil(tensor)": ("EXP303", "return x * math.ceil(n)", "False"),
    "format spec on a tensor": ("EXP303", 'return x * len(f"{x.sum():.2f}")', "False"),
    "enumerate(mask-indexed)": ("EXP302", "return sum(r for _, r in enumerate(x[x > 0]))", "True"),
    "zip(mask-indexed)": ("EXP302", "return sum(a for a, b in zip(x[x > 0], x[x > 0]))", "False"),
    "view sized by .item(), then its size in a branch": (
        "EXP301",
        "rows = x.view(n.item(), -1)\n        if rows.shape[0] > 1:\n            return rows.sum()\n        return x.sum()",
        "False",
    ),
    "branch on a registered buffer": (
        "EXP301",
        "if self.limit > 0:\n            return x + 1\n        return x",
        "False",
    ),
    "branch after self.training short-circuits to the tensor part": (
        "EXP301",
        "if not self.training and x.sum() > 0:\n            return x + 1\n        return x",
        "True",
    ),
}

TEMPLATE = """
import math

import torch


class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("limit", torch.tensor(0.5))

    def forward(self, x, n):
        {body}


model = Model().eval()
torch.export.export(model, (torch.randn(8, 4), torch.tensor(4)), strict={strict})
"""


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_each_new_sink_is_reported_and_fails_for_real(name):
    code, body, strict = CASES[name]
    source = textwrap.dedent(TEMPLATE).replace("{body}", body).replace("{strict}", strict)
    assert [d.code for d in lint(source, (code,))] == [code]
    torch._dynamo.reset()
    with pytest.raises(Exception):  # noqa: B017 -- the error type differs by mode and release
        exec(compile(source, f"<{name}>", "exec"), {"__name__": "fixture"})
