"""Removed export APIs (EXP004-EXP007): the torch-version gates, the codemods (golden diff and
combined fixes), look-alikes that must stay silent, and (slow) the migrated script exports.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import textwrap
from pathlib import Path

import pytest

from export_lint.config import Settings
from export_lint.engine import lint_text
from export_lint.fixer import fix_text, unified_diff
from export_lint.rules import by_code

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _lint(text: str, codes: tuple[str, ...], torch_version: str = "2.14", path: str = "example.py"):
    settings = Settings(select=codes, torch_version=torch_version)
    return lint_text(textwrap.dedent(text), path, settings, [by_code()[c] for c in codes])


def _fix(text: str, codes: tuple[str, ...], torch_version: str = "2.14") -> str:
    settings = Settings(select=codes, torch_version=torch_version)
    return fix_text(
        textwrap.dedent(text), "example.py", settings, unsafe=True, rules=[by_code()[c] for c in codes]
    ).text


def _snapshot(source: Path, codes: tuple[str, ...], torch_version: str) -> str:
    text = source.read_text()
    name = source.relative_to(ROOT).as_posix()
    lines = [
        f"{d.start.row}:{d.start.column} {d.code} [{d.fix.applicability.value if d.fix else 'no fix'}] {d.message}"
        for d in _lint(text, codes, torch_version, name)
    ]
    settings = Settings(select=codes, torch_version=torch_version)
    fixed = fix_text(text, name, settings, unsafe=True, rules=[by_code()[c] for c in codes])
    return "\n".join(lines) + "\n\n" + unified_diff(text, fixed.text, name)


def _check_snapshot(source: Path, codes: tuple[str, ...], torch_version: str = "2.14") -> None:
    snapshot = source.with_suffix(".snap")
    found = _snapshot(source, codes, torch_version)
    if os.environ.get("EXPORT_LINT_UPDATE_SNAPSHOTS"):
        snapshot.write_text(found)
    assert found == snapshot.read_text()


@pytest.fixture(scope="module")
def measure():
    """scripts/measure_side_effects.py, imported (it needs the installed torch)."""
    pytest.importorskip("torch")
    spec = importlib.util.spec_from_file_location("measure_side_effects", ROOT / "scripts" / "measure_side_effects.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


API_CODES = ("EXP004", "EXP005", "EXP006", "EXP007")
LEGACY = FIXTURES / "EXP004" / "legacy_export.py"


def test_golden_diagnostics_and_fix_diff():
    _check_snapshot(LEGACY, API_CODES)


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
    found = {d.code for d in _lint(LEGACY.read_text(), API_CODES, torch_version)}
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
    assert _lint(source, API_CODES) == []


def test_constraints_without_a_safe_rewrite_are_reported_without_a_fix():
    source = """
        import torch
        from torch.export import dynamic_dim

        x, y = torch.randn(4, 3), torch.randn(4, 3)
        torch.export.export(model, (x, y), constraints=[dynamic_dim(x, 0) == dynamic_dim(y, 0)])
        torch.export.export(model, (x, y), constraints=built_elsewhere)
        torch.export.export(model, (x[0], y), constraints=[dynamic_dim(x, 0)])
    """
    found = [d for d in _lint(source, ("EXP005",))]
    assert len(found) == 3 and all(d.fix is None for d in found)


def test_constraints_rewrite_keeps_bounds_and_a_single_argument_tuple():
    source = """
        import torch as T
        from torch.export import dynamic_dim

        x = T.randn(4, 3)
        T.export.export(model, (x,), constraints=[dynamic_dim(x, 0) > 1, 100 >= dynamic_dim(x, 0), dynamic_dim(x, 1)])
    """
    fixed = _fix(source, ("EXP005", "EXP006"))
    assert 'dynamic_shapes=({0: T.export.Dim("x_dim0", min=2, max=100), 1: T.export.Dim("x_dim1")},)' in fixed
    assert "dynamic_dim" not in fixed


def test_export_for_training_rename_follows_an_aliased_torch_import():
    source = """
        import torch as T

        ep = T.export.export_for_training(model, (x,))
    """
    assert _fix(source, ("EXP007",)).strip() == "import torch as T\n\nep = T.export.export(model, (x,))"


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
    fixed = _fix(LEGACY.read_text(), API_CODES)
    namespace: dict = {"__name__": "legacy_fixed"}
    exec(compile(fixed, "legacy_fixed.py", "exec"), namespace)
    x, y = torch.randn(4, 3), torch.randn(3)
    graph_module, program, training = namespace["capture"](namespace["Head"](), x, y)
    assert program.module()(torch.randn(9, 3), y).shape == (9, 3)
    assert torch.allclose(graph_module(x, y), training.module()(x, y))
