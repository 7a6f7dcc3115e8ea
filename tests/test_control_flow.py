"""EXP104-EXP108 and EXP301-EXP303 and the value analysis they share (export_lint/analysis/values/): golden
diagnostics and fix diffs, what the flow knows about values in traced code, the look-alikes that
must stay silent, and the strict/non-strict gate.

Snapshots live in tests/fixtures/EXP301/ and tests/fixtures/EXP104/; regenerate with
``EXPORT_LINT_UPDATE_SNAPSHOTS=1`` and read the diff before committing.
"""

from __future__ import annotations

import textwrap

import libcst as cst
import pytest
from golden import FIXTURES, TORCH, check_snapshot, lint

from export_lint.analysis.semantic import SemanticModel
from export_lint.analysis.values.lattice import Kind
from export_lint.analysis.values.program import FileProgram
from export_lint.traversal import descendants

CONTROL_FLOW = ("EXP301", "EXP302", "EXP303")
SHAPES = ("EXP104", "EXP105", "EXP106", "EXP107", "EXP108")
ALL = CONTROL_FLOW + SHAPES


def _codes(text: str, codes=ALL, torch_version: str = TORCH) -> list[str]:
    return [d.code for d in lint(text, codes, torch_version)]


@pytest.mark.parametrize(
    "source", [FIXTURES / "EXP301" / "data_dependent.py", FIXTURES / "EXP104" / "dynamic_dims.py"], ids=lambda p: p.stem
)
def test_golden_diagnostics_and_fix_diff(source):
    check_snapshot(source, ALL)


def test_fixture_comments_name_every_diagnostic():
    """Each fixture line marked `# EXPnnn` is reported with that code, and no other line is."""
    for source in (FIXTURES / "EXP301" / "data_dependent.py", FIXTURES / "EXP104" / "dynamic_dims.py"):
        text = source.read_text()
        expected = {
            (row, code)
            for row, line in enumerate(text.splitlines(), 1)
            if "# EXP" in line
            for code in ALL
            if code in line.split("#", 1)[1]
        }
        found = {(d.start.row, d.code) for d in lint(text, ALL)}
        assert found == expected, source.name


# -- the value flow -------------------------------------------------------------------------------


class _Names:
    """The kind of each name where it is last read in one function (None: unknown)."""

    def __init__(self, kinds: dict[str, Kind | None]) -> None:
        self.names = kinds


def _flow(source: str, function: str = "forward") -> _Names:
    module = cst.parse_module(textwrap.dedent(source))
    semantic = SemanticModel(module, "example.py")
    program = FileProgram(semantic, TORCH)
    for info in semantic.classes.values():
        if function in info.methods:
            method = info.methods[function]
            assert program.values_of(method)
            kinds: dict[str, Kind | None] = {}
            for node in descendants(method.body):
                if isinstance(node, cst.Name) and id(node) in program.record:
                    kind = program.record[id(node)].kind
                    kinds[node.value] = None if kind is Kind.UNKNOWN else kind
            return _Names(kinds)
    raise AssertionError(function)


def test_flow_kinds_of_forward_values():
    flow = _flow(
        """
        import torch
        from torch import nn

        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.proj = nn.Linear(4, 4)
                self.rnn = nn.LSTM(4, 4)
                self.helper = make_helper()

            def forward(self, x: torch.Tensor, mask: torch.Tensor = None, n: int = 3, flag=True, out: torch.Tensor | None = False):
                h = self.proj(x)
                r = self.rnn(x)
                u = self.helper(x)
                m = h > 0
                kept = h[m]
                idx = h.nonzero()
                top = h.max().item()
                values = h.tolist()
                size = x.shape[0]
                count = kept.shape[0]
                h = h * 2
                probe(x, mask, n, flag, out, h, r, u, m, kept, idx, top, values, size, count)
        """
    )
    assert flow.names["x"] is Kind.TENSOR
    assert flow.names["mask"] is Kind.TENSOR
    assert flow.names["n"] is None and flow.names["flag"] is None
    assert flow.names["out"] is None  # mis-annotated flag: its default says it is not a tensor
    assert flow.names["h"] is Kind.TENSOR  # reassigned from itself: still a tensor
    assert flow.names["r"] is None  # LSTM returns a tuple
    assert flow.names["u"] is None  # unknown callable
    assert flow.names["m"] is Kind.BOOL_TENSOR
    assert flow.names["kept"] is Kind.DATA_SHAPED_TENSOR
    assert flow.names["idx"] is Kind.DATA_SHAPED_TENSOR
    assert flow.names["top"] is Kind.DATA_SCALAR
    assert flow.names["values"] is Kind.SEQUENCE  # of data-dependent numbers
    assert flow.names["size"] is Kind.SIZE  # a size is not data
    assert flow.names["count"] is Kind.DATA_SCALAR


def test_unannotated_forward_inputs_are_tensors_when_alone_or_exported_with_tensors():
    source = """
        import torch

        class M(torch.nn.Module):
            def forward(self, inputs_shape, device, scores):
                return scores

        class One(torch.nn.Module):
            def forward(self, x):
                return x
        {export}
        """
    codes = ("EXP303",)
    body = "int(inputs_shape[0]) + int(scores.sum())"
    text = source.replace("return scores", f"return {body}")
    assert _codes(text.replace("{export}", ""), codes) == []
    exported = text.replace("{export}", "torch.export.export(M(), ((2, 3), 'cpu', torch.randn(3)))")
    assert [d.message.split("`")[1] for d in lint(exported, codes)] == ["int(scores.sum())"]
    alone = source.replace("return x", "return int(x)").replace("{export}", "")
    assert _codes(alone, codes) == ["EXP303"]


def test_flow_gives_up_when_assignments_disagree():
    flow = _flow(
        """
        import torch

        class M(torch.nn.Module):
            def forward(self, x):
                y = x.sum()
                if x.dim() > 1:
                    y = None
                return y
        """
    )
    assert flow.names["y"] is None  # a tensor on one path, None on the other


def test_helper_parameters_get_their_values_from_call_sites():
    flow = _flow(
        """
        import torch

        class M(torch.nn.Module):
            def forward(self, x):
                return self.helper(x, x)

            def helper(self, a, b: torch.Tensor):
                return a
        """,
        "helper",
    )
    assert flow.names["a"] is Kind.TENSOR  # from its call site


# -- must not fire ----------------------------------------------------------------------------------


def test_silent_outside_traced_code_and_under_compile_guards():
    assert (
        _codes(
            """
            import torch
            from transformers.utils import is_torchdynamo_compiling

            class Collator:
                def __call__(self, x: torch.Tensor):
                    if x.sum() > 0:
                        return x
                    return -x

            class M(torch.nn.Module):
                def forward(self, x):
                    if not is_torchdynamo_compiling():
                        if x.sum() > 0:
                            x = x + 1
                    if torch.jit.is_tracing() or x.max() > 1:
                        x = x * 2
                    return x
            """
        )
        == []
    )


def test_silent_on_static_shape_questions_and_non_tensor_arguments():
    assert (
        _codes(
            """
            import torch

            class M(torch.nn.Module):
                def forward(self, x, scale: float = 1.0, lengths: list[int] = None):
                    if x.shape[0] > 1 and x.ndim == 2 and x.dtype == torch.float32 and x.is_floating_point():
                        x = x * scale
                    for n in lengths or []:
                        x = x * int(n)
                    while scale > 2:
                        scale = scale / 2
                    return x * int(x.size(0))
            """
        )
        == []
    )


def test_shape_rules_need_a_declared_dynamic_dim():
    source = """
        import torch
        from torch.export import Dim

        class M(torch.nn.Module):
            def forward(self, x):
                assert x.shape[0] == 8
                for row in x:
                    pass
                return x.view(32) * int(x.shape[0] / 2) + x[: x.shape[0] // 2].sum()

        torch.export.export(M(), (torch.randn(8, 4),){dynamic})
        """
    assert _codes(source.replace("{dynamic}", ""), SHAPES) == []
    # Only dim 1 is dynamic: dim 0 questions are fine, but a literal reshape pins every dim.
    assert _codes(source.replace("{dynamic}", ', dynamic_shapes={"x": {1: Dim("w")}}'), SHAPES) == ["EXP105"]
    assert _codes(source.replace("{dynamic}", ', dynamic_shapes={"x": {0: Dim.AUTO}}'), SHAPES) == []
    declared = _codes(source.replace("{dynamic}", ', dynamic_shapes={"x": {0: Dim("b")}}'), SHAPES)
    assert sorted(declared) == ["EXP104", "EXP105", "EXP106", "EXP107", "EXP108"]


def test_a_rebound_input_is_not_tracked():
    assert (
        _codes(
            """
            import torch
            from torch.export import Dim

            class M(torch.nn.Module):
                def forward(self, x):
                    x = x.flatten(1)
                    assert x.shape[0] == 8
                    return x.view(32)

            torch.export.export(M(), (torch.randn(8, 4),), dynamic_shapes={"x": {0: Dim("b")}})
            """,
            SHAPES,
        )
        == []
    )


# -- strict and non-strict ----------------------------------------------------------------------------

_NON_STRICT_ONLY = """
    import torch
    from torch.export import Dim

    class M(torch.nn.Module):
        def forward(self, x, i):
            assert (x > 0).all()
            return x[int(i)] * int(x.shape[0])

    torch.export.export(M(), (torch.rand(4) + 1, torch.tensor(1)), dynamic_shapes=({0: Dim("b")}, None){strict})
    """


@pytest.mark.parametrize(
    ("strict", "torch_version", "expected"),
    [
        ("", "2.14", ["EXP303", "EXP303", "EXP107"]),
        (", strict=False", "2.14", ["EXP303", "EXP303", "EXP107"]),
        (", strict=True", "2.14", []),
        ("", "2.7", []),  # strict was the default before torch 2.8
        ("", "2.8", ["EXP303", "EXP303", "EXP107"]),
        (", strict=False", "2.6", ["EXP303", "EXP303", "EXP107"]),
    ],
)
def test_non_strict_rules_follow_the_export_mode(strict, torch_version, expected):
    found = _codes(_NON_STRICT_ONLY.replace("{strict}", strict), ("EXP107", "EXP303"), torch_version)
    assert found == expected
