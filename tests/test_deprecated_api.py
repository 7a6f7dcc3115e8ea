"""Removed export APIs (EXP004-EXP007): the torch-version gates, the codemods (golden diff and
combined fixes), look-alikes that must stay silent, and (slow) the migrated script exports.
"""

from __future__ import annotations

import pytest
from golden import FIXTURES, check_snapshot, fix, lint, script_fixture

measure = script_fixture("measure_side_effects")


API_CODES = ("EXP004", "EXP005", "EXP006", "EXP007")
LEGACY = FIXTURES / "EXP004" / "legacy_export.py"


def test_golden_diagnostics_and_fix_diff():
    check_snapshot(LEGACY, API_CODES)


@pytest.mark.parametrize(
    ("torch_version", "expected"),
    [
        ("2.2", set()),  # every API still exists
        ("2.3", {"EXP005"}),  # constraints= removed
        ("2.5", {"EXP005", "EXP006"}),  # dynamic_dim removed
        ("2.7", {"EXP004", "EXP005", "EXP006"}),  # capture_pre_autograd_graph removed
        ("2.10", {"EXP004", "EXP005", "EXP006"}),  # export_for_training deprecated, still there
        ("2.11", {"EXP004", "EXP005", "EXP006", "EXP007"}),
    ],
)
def test_each_removed_api_is_reported_from_the_release_that_removed_it(torch_version, expected):
    found = {d.code for d in lint(LEGACY.read_text(), API_CODES, torch_version)}
    assert found == expected


def test_look_alikes_are_silent():
    source = """
        import torch
        from mylib import dynamic_dim


        def export(model, args, constraints=None):
            return model(*args)


        def capture_pre_autograd_graph(model, args):
            return torch.export.export(model, args).module()


        export(torch.nn.Linear(2, 2), (torch.randn(1, 2),), constraints=[dynamic_dim(1, 0)])
        capture_pre_autograd_graph(torch.nn.Linear(2, 2), (torch.randn(1, 2),))
        torch.export.export(torch.nn.Linear(2, 2), (torch.randn(1, 2),), dynamic_shapes=None)
    """
    assert lint(source, API_CODES) == []


def test_constraints_without_a_safe_rewrite_are_reported_without_a_fix():
    source = """
        import torch
        from torch.export import dynamic_dim

        x, y = torch.randn(4, 3), torch.randn(4, 3)
        torch.export.export(model, (x, y), constraints=[dynamic_dim(x, 0) == dynamic_dim(y, 0)])
        torch.export.export(model, (x, y), constraints=built_elsewhere)
        torch.export.export(model, (x[0], y), constraints=[dynamic_dim(x, 0)])
    """
    found = [d for d in lint(source, ("EXP005",))]
    assert len(found) == 3 and all(d.fix is None for d in found)


def test_constraints_rewrite_keeps_bounds_and_a_single_argument_tuple():
    source = """
        import torch as T
        from torch.export import dynamic_dim

        x = T.randn(4, 3)
        T.export.export(model, (x,), constraints=[dynamic_dim(x, 0) > 1, 100 >= dynamic_dim(x, 0), dynamic_dim(x, 1)])
    """
    fixed = fix(source, ("EXP005", "EXP006")).text
    assert 'dynamic_shapes=({0: T.export.Dim("x_dim0", min=2, max=100), 1: T.export.Dim("x_dim1")},)' in fixed
    assert "dynamic_dim" not in fixed


def test_export_for_training_rename_follows_an_aliased_torch_import():
    source = """
        import torch as T

        ep = T.export.export_for_training(model, (x,))
    """
    assert fix(source, ("EXP007",)).text.strip() == "import torch as T\n\nep = T.export.export(model, (x,))"


# -- slow ---------------------------------------------------------------------------------------
@pytest.mark.slow
def test_removed_apis_raise_on_the_installed_torch(measure):
    torch = pytest.importorskip("torch")
    from export_lint.versions import matches, parse_version

    installed = parse_version(torch.__version__)
    for name in measure.API_PROBES:
        outcome = measure.probe_api(name)["export"]
        if "current API" in name:
            assert outcome == "works"
            continue
        removed_in = {
            "capture": ">=2.7",
            "dynamic_dim": ">=2.5",
            "constraints": ">=2.3",
            "export_for_training": ">=2.11",
        }
        gate = next(spec for key, spec in removed_in.items() if key in name)
        assert (outcome != "works") == matches(installed, gate), (name, outcome)


@pytest.mark.slow
def test_migrated_legacy_script_exports_with_a_dynamic_batch(tmp_path):
    torch = pytest.importorskip("torch")
    fixed = fix(LEGACY.read_text(), API_CODES).text
    namespace: dict = {"__name__": "legacy_fixed"}
    exec(compile(fixed, "legacy_fixed.py", "exec"), namespace)
    x, y = torch.randn(4, 3), torch.randn(3)
    graph_module, program, training = namespace["capture"](namespace["Head"](), x, y)
    assert program.module()(torch.randn(9, 3), y).shape == (9, 3)
    assert torch.allclose(graph_module(x, y), training.module()(x, y))
