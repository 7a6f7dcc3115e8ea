"""Mutation rules (EXP203-EXP206) and export_lint.analysis.module_state: golden diagnostics and fix diffs,
the look-alikes that must stay silent, the torch-version gate of EXP203, and (slow) the measured
claims re-checked with the installed torch.

Snapshots live in tests/fixtures/EXP20x/; regenerate with ``EXPORT_LINT_UPDATE_SNAPSHOTS=1`` and read
the diff before committing.
"""

from __future__ import annotations

import textwrap

import libcst as cst
import pytest
from golden import FIXTURES, check_snapshot, lint, script_fixture

from export_lint.analysis.module_state import attribute_kinds, is_inplace_tensor_method
from export_lint.analysis.semantic import SemanticModel

SNAPSHOTS = [
    (FIXTURES / "EXP203" / "preprocess_inplace.py", ("EXP203",), "2.1"),
    (FIXTURES / "EXP204" / "module_state.py", ("EXP204", "EXP205", "EXP206"), "2.14"),
]


@pytest.mark.parametrize(("source", "codes", "torch_version"), SNAPSHOTS, ids=lambda v: getattr(v, "name", v))
def test_golden_diagnostics_and_fix_diff(source, codes, torch_version):
    check_snapshot(source, codes, torch_version)


def test_input_mutation_is_only_reported_for_torch_before_2_2():
    source = """
        import torch

        class Model(torch.nn.Module):
            def forward(self, x):
                x.add_(1)
                return x
    """
    assert [d.code for d in lint(source, ("EXP203",), "2.1")] == ["EXP203"]
    assert lint(source, ("EXP203",), "2.2") == []
    assert lint(source, ("EXP203",), "2.14") == []


@pytest.mark.parametrize(
    "forward",
    [
        # a helper's parameter is not necessarily an input of the exported program
        "def forward(self, x):\n    return helper(x)\n\ndef helper(t):\n    t.add_(1)\n    return t",
        # rebound before the write
        "def forward(self, x):\n    x = x * 2\n    x[:, 0] = 0\n    return x",
        # a one-dimensional index on an unannotated input may be a list
        "def forward(self, x, cache):\n    cache[0] = x\n    return x",
        # augmented assignment on an unannotated name may be an int
        "def forward(self, x, n):\n    n += 1\n    return x * n",
    ],
)
def test_input_mutation_look_alikes_are_silent(forward):
    body = textwrap.indent(forward.split("\n\n")[0], "    ")
    extra = forward.split("\n\n")[1] if "\n\n" in forward else ""
    source = f"import torch\n\nclass Model(torch.nn.Module):\n{body}\n\n{extra}\n"
    assert lint(source, ("EXP203",), "2.1") == []


def _class_info(source: str):
    module = cst.parse_module(textwrap.dedent(source))
    semantic = SemanticModel(module, "example.py")
    return semantic, semantic.classes["Model"]


def test_attribute_kinds_tells_buffers_parameters_tensors_and_numbers_apart():
    semantic, info = _class_info(
        """
        import torch
        from torch import nn

        class Base(nn.Module):
            def __init__(self):
                super().__init__()
                self.register_buffer("running", torch.zeros(3))

        class Model(Base):
            steps = 0

            def __init__(self):
                super().__init__()
                self.weight = nn.Parameter(torch.ones(3))
                self.table = torch.arange(3)
                self.scale = -1.5
                self.proj = nn.Linear(3, 3)
                self.mixed = torch.zeros(3)
                self.mixed = None
                self.unknown = make_anything()
        """
    )
    kinds = attribute_kinds(semantic, info)
    assert kinds["running"] == "buffer"
    assert kinds["weight"] == "parameter"
    assert kinds["table"] == "tensor"
    assert kinds["scale"] == "python"
    assert kinds["steps"] == "python"
    assert kinds["proj"] == "module"
    assert kinds["mixed"] == "unknown"
    assert kinds["unknown"] == "unknown"


def test_computed_registrations_make_every_attribute_unknown():
    semantic, info = _class_info(
        """
        import torch

        class Model(torch.nn.Module):
            def __init__(self, names):
                super().__init__()
                self.table = torch.zeros(3)
                for name in names:
                    self.register_buffer(name, torch.zeros(3))
        """
    )
    assert attribute_kinds(semantic, info)["table"] == "unknown"


def test_inplace_method_names_follow_torch_convention():
    assert all(is_inplace_tensor_method(name) for name in ("add_", "copy_", "masked_fill_", "index_put_"))
    assert not any(is_inplace_tensor_method(name) for name in ("requires_grad_", "add", "__iadd__", "_private"))


def test_state_rules_stay_silent_where_kinds_are_unknown():
    source = """
        import torch
        from transformers import PreTrainedModel

        class Model(PreTrainedModel):
            def __init__(self, config):
                super().__init__(config)
                self.cache = build_cache(config)

            def forward(self, x):
                self.cache.add_(1)
                self.counter += 1
                self.cache = self.cache + x
                return x
    """
    assert lint(source, ("EXP204", "EXP205", "EXP206")) == []


# -- slow: the measurements behind these rules, re-checked with the installed torch -------------
measure = script_fixture("measure_side_effects")


@pytest.mark.slow
def test_input_mutation_exports_and_replays_the_write_on_the_callers_tensor(measure):
    for name in ("input-index-write", "input-augassign", "input-inplace-method"):
        row = measure.measure(name, strict=False)
        assert row["export"] == "exports", row
        assert row["vs eager"] == "same (caller's input mutated, as in eager)", row
        assert row["run_decompositions"] == "ok", row


@pytest.mark.slow
def test_plain_tensor_attribute_mutation_breaks_run_decompositions_but_buffers_do_not(measure):
    plain = measure.measure("plain-tensor-attr-mutated", strict=False)
    assert plain["export"] == "exports"
    assert "Constant t is mutated in the forward method" in plain["run_decompositions"]
    assert plain["vs eager"].startswith("DIVERGES")
    assert measure.measure("buffer-mutated", strict=False)["run_decompositions"] == "ok"


@pytest.mark.slow
def test_python_and_global_state_diverge_silently(measure):
    for name in ("python-counter", "plain-tensor-attr-reassigned", "global-write"):
        row = measure.measure(name, strict=False)
        assert row["export"] == "exports", row
        assert row["vs eager"].startswith("DIVERGES"), row
