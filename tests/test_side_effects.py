"""Python side-effect rules (EXP401-EXP404): golden diagnostics and fix diff, look-alikes that must
stay silent, and (slow) the measured failures and divergences re-checked with the installed torch.
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


def test_golden_diagnostics_and_fix_diff():
    _check_snapshot(FIXTURES / "EXP401" / "side_effects.py", ("EXP401", "EXP402", "EXP403", "EXP404"))


@pytest.mark.parametrize(
    "body",
    [
        "print(x.shape)\n        logger.info('x %s', x.shape)\n        return x + 1",  # print/logging export fine
        "return x * torch.rand(())",  # tensor randomness is part of the program
        "return x / float(np.sqrt(self.dim))",  # NumPy on Python numbers
        "if self.training:\n            x = x * random.random()\n        return x",  # training-only
        "if torch.jit.is_scripting():\n            return x\n        return x + 1",
    ],
)
def test_side_effect_look_alikes_are_silent(body):
    source = f"""
import logging
import random

import numpy as np
import torch

logger = logging.getLogger(__name__)


class Model(torch.nn.Module):
    dim = 4

    def forward(self, x):
        {body}
"""
    assert _lint(source, ("EXP401", "EXP402", "EXP403", "EXP404")) == []


def test_side_effects_outside_traced_code_are_silent():
    source = """
        import random
        import time

        import numpy as np
        import torch


        class Model(torch.nn.Module):
            def forward(self, x):
                return x + 1

            def describe(self, x):
                with open("log.txt", "w") as log:
                    log.write(str(np.transpose(x.numpy())) + str(time.time() + random.random()))


        def preprocess(frames):
            return torch.as_tensor(np.transpose(frames.numpy(), (0, 4, 1, 2, 3)))
    """
    assert _lint(source, ("EXP401", "EXP402", "EXP403", "EXP404")) == []


def test_numpy_call_on_a_non_input_is_silent_and_transpose_fix_uses_permute():
    source = """
        import numpy as np
        import torch


        class Model(torch.nn.Module):
            def forward(self, x, sizes: list):
                grid = np.arange(4)
                y = np.transpose(x, (1, 0))
                return torch.as_tensor(grid) + y + len(np.asarray(sizes))
    """
    found = _lint(source, ("EXP401",))
    assert [(d.code, d.start.row) for d in found] == [("EXP401", 9)]
    assert "y = x.permute(1, 0)" in _fix(source, ("EXP401",))


# -- slow: the measurements behind these rules ----------------------------------------------
@pytest.mark.slow
def test_numpy_on_tensors_fails_non_strict_and_exports_strict(measure):
    row = measure.measure("np.transpose(tensor)", strict=False)
    assert row["export"] == "RuntimeError: RuntimeError: .numpy() is not supported for tensor subclasses."
    assert measure.measure("np.transpose(tensor)", strict=True)["export"] == "exports"


@pytest.mark.slow
def test_random_and_clock_are_baked_non_strict(measure):
    for name in ("python-random", "time.perf_counter"):
        row = measure.measure(name, strict=False)
        assert row["export"] == "exports" and row["vs eager"].startswith("DIVERGES"), row


@pytest.mark.slow
def test_print_logging_hooks_and_no_grad_export_and_match_eager(measure):
    for name in ("print", "logger.info (module-level logger)", "forward + pre hooks", "torch.no_grad in forward"):
        row = measure.measure(name, strict=False)
        assert row["export"] == "exports" and row["vs eager"] == "same", row


@pytest.mark.slow
def test_scripted_submodule_fails_in_both_modes(measure):
    assert "TypeError" in measure.measure("torch.jit.script submodule", strict=False)["export"]
