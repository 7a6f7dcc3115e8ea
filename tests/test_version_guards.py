"""Findings of version-gated rules inside branches that run only where the hazard is not real."""

from __future__ import annotations

import ast
import textwrap

import pytest

from export_lint.analysis.version_guards import Releases, guarded_regions, never_meets
from export_lint.config import Settings
from export_lint.engine import lint_text

#: A quantization helper in the style of intel/neural-compressor's pt2e export: each removed API is
#: called only on the releases that still have it.
GUARDED = """
import torch
from packaging.version import Version

TORCH_VERSION_2_7_0 = Version("2.7.0")
TORCH_VERSION_2_8_0 = Version("2.8.0")


def get_torch_version():
    return Version(torch.__version__.split("+")[0])


def export_model(model, example_inputs):
    cur_version = get_torch_version()
    if cur_version < TORCH_VERSION_2_7_0:
        return torch._export.capture_pre_autograd_graph(model, args=example_inputs)
    else:
        if cur_version >= TORCH_VERSION_2_8_0:
            return torch.export.export(model, args=example_inputs)
        else:
            return torch.export.export_for_training(model, args=example_inputs)


def unguarded(model, example_inputs):
    return torch.export.export_for_training(model, args=example_inputs)
"""


def codes_and_rows(source: str, torch_version: str = "2.14") -> list[tuple[str, int]]:
    settings = Settings(select=("EXP004", "EXP007", "EXP201"), torch_version=torch_version)
    return [(d.code, d.start.row) for d in lint_text(textwrap.dedent(source), "helper.py", settings)]


def test_removed_apis_called_only_on_releases_that_have_them_are_not_reported():
    assert codes_and_rows(GUARDED) == [("EXP007", 25)]  # only the unguarded call


@pytest.mark.parametrize(
    "test",
    [
        'torch.__version__ < "2.7"',
        '"2.7" > torch.__version__',
        "not TORCH_GREATER_EQUAL_2_7",
        "_TORCH_LESS_THAN_2_7",
        'not is_torch_greater_or_equal("2.7")',
        "tuple(int(p) for p in torch.__version__.split('.')[:2]) < (2, 7)",
        'version.parse(importlib.metadata.version("torch")) <= version.parse("2.6")',
    ],
)
def test_the_ways_projects_test_the_torch_version(test):
    source = f"""
    import importlib.metadata
    import torch
    from packaging import version

    if {test}:
        from torch._export import capture_pre_autograd_graph
    else:
        from torch.export import export as capture_pre_autograd_graph
    """
    assert codes_and_rows(source) == []


@pytest.mark.parametrize(
    "test",
    [
        "sys.version_info < (3, 12)",  # Python's version, not torch's
        'transformers.__version__ < "4.40"',
        'torch.__version__ >= "2.5"',  # includes the releases where the API is gone
        "flag",
    ],
)
def test_other_tests_keep_the_finding(test):
    source = f"""
    import sys
    import torch
    import transformers

    if {test}:
        from torch._export import capture_pre_autograd_graph
    """
    assert codes_and_rows(source) == [("EXP004", 7)]


def test_a_hazard_of_old_releases_inside_a_branch_for_new_ones_is_not_reported():
    # EXP201 (frozen storage) is real below 2.6 only; the branch runs on 2.6 and later.
    source = """
    import torch

    class Net(torch.nn.Module):
        def forward(self, x):
            if torch.__version__ >= "2.6":
                offsets = torch.tensor([1.0, 2.0, 3.0]).to(x.device)
                offsets += 1
                return x + offsets
            return x

    torch.export.export(Net(), (torch.randn(1, 3),))
    """
    assert codes_and_rows(source, "2.5") == []
    assert codes_and_rows(source.replace('>= "2.6"', '< "2.6"'), "2.5") == [("EXP201", 8)]


def test_regions_meet_nested_guards_and_the_gate_arithmetic():
    regions = guarded_regions(ast.parse(textwrap.dedent(GUARDED)))
    inner = [r for r in regions if r.first == r.last == 21]
    assert inner and inner[0].releases == Releases((2, 7, 0), (2, 8, 0))
    assert never_meets(Releases((2, 7, 0), (2, 8, 0)), ">=2.11")
    assert not never_meets(Releases((2, 7, 0), None), ">=2.11")
    assert never_meets(Releases(None, (2, 6)), ">=2.7")
    assert not never_meets(Releases(None, (2, 6, 10**6)), "<2.7")
