"""EXP101, EXP102, EXP103 and the shape flow they share: golden diagnostics and fix diffs, what the
flow knows about example tensors, the look-alikes that must stay silent, and (slow) the issue's
claims about dynamic shapes re-measured with the installed torch on a tiny model.

Snapshots live in tests/fixtures/EXP10x/; regenerate with ``EXPORT_LINT_UPDATE_SNAPSHOTS=1`` and read
the diff before committing.
"""

from __future__ import annotations

import textwrap

import libcst as cst
import pytest
from golden import FIXTURES, ROOT, check_snapshot, fix, lint

from export_lint.analysis.semantic import SemanticModel
from export_lint.analysis.shapes import TensorValue, flow_at
from export_lint.config import Settings
from export_lint.engine import lint_text, parse

MVIT = ROOT / "examples" / "mvit_dynamic_batch.py"
CODES = ("EXP101", "EXP102", "EXP103")


SNAPSHOTS = [
    ("EXP101", MVIT),
    ("EXP101", FIXTURES / "EXP101" / "shape_flow.py"),
    ("EXP102", FIXTURES / "EXP102" / "zero_one.py"),
    ("EXP103", FIXTURES / "EXP103" / "key_mismatch.py"),
]


@pytest.mark.parametrize(("code", "source"), SNAPSHOTS, ids=lambda v: getattr(v, "name", v))
def test_golden_diagnostics_and_fix_diff(code, source):
    check_snapshot(source, [code], snap=FIXTURES / code / f"{source.stem}.snap")


def test_the_cookbook_mvit_script_reports_exactly_exp101_and_its_fix_is_idempotent():
    text = MVIT.read_text()
    every_rule = Settings(select=("EXP",), torch_version="2.14")
    assert [d.code for d in lint_text(text, "examples/mvit_dynamic_batch.py", every_rule)] == ["EXP101"]
    once = fix(text, CODES).text
    assert 'dynamic_shapes={"x": {0: torch.export.Dim("batch", min=2, max=4)}},' in once
    assert not isinstance(parse(once, "x.py"), type(lint(text, CODES)[0]))
    assert fix(once, CODES).text == once
    assert lint(once, CODES) == []


# -- what the shape flow knows --------------------------------------------------------------


def _shape_of(source: str, name: str) -> tuple[int | None, ...] | None:
    """The value of ``name`` just before the file's last statement (a ``pass``)."""
    module = cst.parse_module(textwrap.dedent(source) + "pass\n")
    semantic = SemanticModel(module, "example.py")
    flow = flow_at(semantic, [module])
    value = flow.final_env.get(name)
    return value.sizes if isinstance(value, TensorValue) else None


@pytest.mark.parametrize(
    ("source", "sizes"),
    [
        ("import torch\nt = torch.randn(2, 3)\n", (2, 3)),
        ("import torch\nt = torch.zeros((2, 3))\n", (2, 3)),
        ("import torch\nt = torch.ones(size=[4, 5])\n", (4, 5)),
        ("import torch\nt = torch.full((2, 7), 0.5)\n", (2, 7)),
        ("import torch\nt = torch.randint(0, 10, (3, 4))\n", (3, 4)),
        ("import torch\nt = torch.tensor([[1, 1, 1, 1]]) * 5\n", (1, 4)),
        ("import torch as T\nn = 3\nt = T.empty(n, 2 * n)\n", (3, 6)),
        ("from torch import rand\nt = rand(2, 16, 8, 8, 3)\n", (2, 16, 8, 8, 3)),
        (
            "import numpy as np, torch\nt = np.transpose(torch.randn(2, 16, 8, 8, 3), (0, 4, 1, 2, 3))\n",
            (2, 3, 16, 8, 8),
        ),
        ("import torch\nt = torch.randn(2, 3, 4).permute(2, 0, 1)\n", (4, 2, 3)),
        ("import torch\nt = torch.randn(2, 3, 4).transpose(0, -1)\n", (4, 3, 2)),
        ("import torch\nt = torch.randn(2, 3).unsqueeze(-1).unsqueeze(0)\n", (1, 2, 3, 1)),
        ("import torch\nt = torch.randn(2, 1, 3).squeeze(1)\n", (2, 3)),
        ("import torch\nt = torch.randn(2, 3, 4).reshape(2, -1)\n", (2, 12)),
        ("import torch\nt = torch.randn(2, 3).to('cpu').float().half().contiguous()\n", (2, 3)),
        ("import torch\nx = torch.randn(2, 3)\nt = torch.zeros_like(x)\n", (2, 3)),
        ("import torch\ninputs = (torch.randn(5), torch.randn(2, 3))\nt = inputs[1]\n", (2, 3)),
        ("import torch\na, t = torch.randn(5), torch.randn(6, 3)\n", (6, 3)),
        ("import torch\nt = torch.randn(2, 3)\nwith torch.no_grad():\n    t = t.unsqueeze(0)\n", (1, 2, 3)),
        # Unknown: a size from a parameter-like name, a branch, a loop, an in-place reshape, a call.
        ("import torch\nt = torch.randn(b, 3)\n", (None, 3)),
        ("import torch\nt = torch.randn(2, 3)\nif flag:\n    t = torch.randn(4, 3)\n", None),
        ("import torch\nt = torch.randn(2, 3)\nfor i in range(3):\n    t = torch.cat([t, t])\n", None),
        ("import torch\nt = torch.randn(2, 3)\nt.unsqueeze_(0)\n", None),
        ("import torch\nt = load(torch.randn(2, 3))\n", None),
        ("import torch\nt = torch.randn(2, 3)\nt += 1\n", None),
    ],
)
def test_shape_flow(source, sizes):
    assert _shape_of(source, "t") == sizes


# -- must not fire ------------------------------------------------------------------------

SILENT = {
    "dynamic_shapes given": """
        import torch
        ep = torch.export.export(torch.nn.ReLU(), (torch.randn(2, 3),), dynamic_shapes=({0: torch.export.Dim.AUTO},))
        ep.module()(torch.randn(4, 3))
    """,
    "example from a parameter": """
        import torch
        def run(model, example):
            ep = torch.export.export(model, (example,))
            return ep.module()(torch.randn(4, 3))
    """,
    "call input from a parameter": """
        import torch
        def run(model, batch):
            ep = torch.export.export(model, (torch.randn(2, 3),))
            return ep.module()(batch)
    """,
    "reassigned in a branch": """
        import torch
        x = torch.randn(2, 3)
        ep = torch.export.export(torch.nn.ReLU(), (x,))
        if big:
            x = torch.randn(8, 3)
        ep.module()(x)
    """,
    "same sizes": """
        import torch
        ep = torch.export.export(torch.nn.ReLU(), (torch.randn(2, 3),))
        ep.module()(torch.randn(2, 3))
    """,
    "rank differs (not a dynamic-shape problem)": """
        import torch
        ep = torch.export.export(torch.nn.ReLU(), (torch.randn(2, 3),))
        ep.module()(torch.randn(2, 3, 4))
    """,
    "not export: eager calls and a look-alike named export": """
        import torch
        def export(model, args):
            return model
        m = export(torch.nn.ReLU(), (torch.randn(2, 3),))
        m(torch.randn(4, 3))
        torch.nn.ReLU()(torch.randn(5, 3))
    """,
    "exported program called from another function": """
        import torch
        ep = torch.export.export(torch.nn.ReLU(), (torch.randn(2, 3),))
        def serve():
            return ep.module()(torch.randn(4, 3))
    """,
    "ep reassigned before the call": """
        import torch
        ep = torch.export.export(torch.nn.ReLU(), (torch.randn(2, 3),))
        ep = torch.export.export(torch.nn.ReLU(), (torch.randn(4, 3),))
        ep.module()(torch.randn(4, 3))
    """,
    "dim 0/1 only on a static dim": """
        import torch
        from torch.export import Dim
        torch.export.export(torch.nn.ReLU(), (torch.randn(4, 1),), dynamic_shapes=({0: Dim("b")},))
    """,
    "correct keys for a local forward": """
        import torch
        from torch.export import Dim
        class M(torch.nn.Module):
            def forward(self, x, y):
                return x + y
        torch.export.export(M(), (torch.randn(2), torch.randn(2)), dynamic_shapes={"x": {0: Dim("b")}, "y": {0: Dim("b")}})
    """,
    "variadic forward": """
        import torch
        from torch.export import Dim
        class M(torch.nn.Module):
            def forward(self, *inputs):
                return inputs[0]
        torch.export.export(M(), (torch.randn(2),), dynamic_shapes={"inputs": ({0: Dim("b")},)})
    """,
}


@pytest.mark.parametrize("source", SILENT.values(), ids=SILENT.keys())
def test_must_not_fire(source):
    assert lint(source, CODES) == []


def test_exp103_keeps_the_quote_style_and_names_keys_from_the_variables_passed():
    fixed = fix(
        """
        import torch
        from torch.export import Dim
        class M(torch.nn.Module):
            def forward(self, x, y):
                return x + y
        a, b = torch.randn(2), torch.randn(2)
        torch.export.export(M(), (a, b), dynamic_shapes={'b': {0: Dim("n")}, 'a': {0: Dim("n")}})
        """,
        ["EXP103"],
    )
    assert "dynamic_shapes={'y': {0: Dim(\"n\")}, 'x': {0: Dim(\"n\")}}" in fixed.text


def test_exp103_has_no_fix_when_the_entries_cannot_cover_the_inputs():
    [diagnostic] = lint(
        """
        import torch
        class M(torch.nn.Module):
            def forward(self, x, y):
                return x + y
        torch.export.export(M(), (torch.randn(2), torch.randn(2)), dynamic_shapes={"p": None, "q": None, "r": None})
        """,
        ["EXP103"],
    )
    assert diagnostic.fix is None


def test_exp101_reuses_a_dim_import_and_sizes_max_to_a_power_of_two():
    fixed = fix(
        """
        import torch
        from torch.export import Dim
        ep = torch.export.export(torch.nn.ReLU(), (torch.randn(3, 5),))
        ep.module()(torch.randn(17, 5))
        ep.module()(torch.randn(9, 5))
        """,
        ["EXP101"],
    ).text
    assert 'dynamic_shapes=({0: Dim("batch", min=2, max=32)},)' in fixed
    assert fixed.count("import") == 2


def test_exp101_treats_an_explicit_none_as_missing_and_replaces_it():
    fixed = fix(
        """
        import torch
        ep = torch.export.export(torch.nn.ReLU(), (torch.randn(2, 3),), dynamic_shapes=None, strict=True)
        ep.module()(torch.randn(4, 3))
        """,
        ["EXP101"],
    ).text
    assert 'dynamic_shapes=({0: torch.export.Dim("batch", min=2, max=4)},), strict=True)' in fixed


# -- the claims, re-measured with the installed torch -------------------------------------


@pytest.fixture(scope="module")
def torch_export():
    torch = pytest.importorskip("torch")

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(3, 4)

        def forward(self, x):
            return self.linear(x).relu()

    return torch, Model().eval()


def _export(torch, model, size, dynamic_shapes=None, strict=False):
    return torch.export.export(model, (torch.randn(size, 3),), dynamic_shapes=dynamic_shapes, strict=strict)


@pytest.mark.slow
@pytest.mark.parametrize("strict", [False, True], ids=["non-strict", "strict"])
def test_static_export_fails_only_when_called_at_another_batch(torch_export, strict):
    torch, model = torch_export
    ep = _export(torch, model, 2, strict=strict)
    with pytest.raises(AssertionError, match=r"Guard failed: x.size\(\)\[0\] == 2"):
        ep.module()(torch.randn(4, 3))
    with pytest.raises(RuntimeError, match=r"Expected input at \*args\[0\].shape\[0\] to be equal to 2, but got 4"):
        ep.module(check_guards=False)(torch.randn(4, 3))


@pytest.mark.slow
def test_keyed_and_positional_dims_work_and_max_is_enforced(torch_export):
    torch, model = torch_export
    Dim = torch.export.Dim
    for spec in ({"x": {0: Dim("batch", min=2, max=16)}}, ({0: Dim("batch", min=2, max=16)},)):
        module = _export(torch, model, 2, spec).module()
        assert module(torch.randn(4, 3)).shape == (4, 4)
        # min=2 does not stop a batch of 1 at call time.
        assert module(torch.randn(1, 3)).shape == (1, 4)
        with pytest.raises(AssertionError, match=r"Guard failed: x.size\(\)\[0\] <= 16"):
            module(torch.randn(32, 3))


@pytest.mark.slow
def test_wrong_dict_key_fails_at_export(torch_export):
    torch, model = torch_export
    with pytest.raises(
        torch._dynamo.exc.UserError, match=r"keys must be the arg names \['x'\].*here they are \['input'\]"
    ):
        _export(torch, model, 2, {"input": {0: torch.export.Dim("batch", min=2, max=16)}})


@pytest.mark.slow
@pytest.mark.parametrize("size", [0, 1])
def test_zero_one_examples_break_each_kind_of_dynamic_dim(torch_export, size):
    torch, model = torch_export
    Dim = torch.export.Dim
    with pytest.raises(torch._dynamo.exc.UserError, match="Constraints violated"):
        _export(torch, model, size, {"x": {0: Dim("batch", min=1, max=16)}})
    with pytest.raises(ValueError, match="conflicts between user-specified ranges and inferred ranges"):
        _export(torch, model, size, {"x": {0: Dim.DYNAMIC}})
    ep = _export(torch, model, size, {"x": {0: Dim.AUTO}})  # exports: silently specialized
    with pytest.raises(AssertionError, match=rf"Guard failed: x.size\(\)\[0\] == {size}"):
        ep.module()(torch.randn(4, 3))


@pytest.mark.slow
def test_exp101_fix_is_unsafe_a_specializing_model_exports_static_but_not_dynamic():
    torch = pytest.importorskip("torch")
    source = """
        import torch

        class Halves(torch.nn.Module):
            def forward(self, x):
                return x.view(2, -1)

        ep = torch.export.export(Halves(), (torch.randn(2, 3),))
        ep.module()(torch.randn(4, 3))
    """
    original, fixed = textwrap.dedent(source), fix(source, ["EXP101"]).text
    assert "dynamic_shapes=" in fixed
    with pytest.raises(AssertionError, match="Guard failed"):
        exec(compile(original, "original", "exec"), {})
    with pytest.raises(torch._dynamo.exc.UserError, match="Constraints violated"):
        exec(compile(fixed, "fixed", "exec"), {})


@pytest.mark.slow
def test_shape_flow_fixture_fails_before_and_exports_after_the_fix():
    pytest.importorskip("torch")
    source = (FIXTURES / "EXP101" / "shape_flow.py").read_text()
    before: dict = {"__name__": "fixture"}
    exec(compile(source, "shape_flow.py", "exec"), before)
    with pytest.raises(AssertionError, match="Guard failed"):
        before["export_and_serve"]()
    after: dict = {"__name__": "fixture"}
    exec(compile(fix(source, ["EXP101"]).text, "shape_flow_fixed.py", "exec"), after)
    assert tuple(after["export_and_serve"]().shape) == (6, 11, 3)
