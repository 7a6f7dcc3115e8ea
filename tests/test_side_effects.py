"""Python side-effect rules (EXP401-EXP404): golden diagnostics and fix diff, look-alikes that must
stay silent, and (slow) the measured failures and divergences re-checked with the installed torch.
"""

from __future__ import annotations

import pytest
from golden import FIXTURES, check_snapshot, fix, lint, script_fixture

measure = script_fixture("measure_side_effects")


def test_golden_diagnostics_and_fix_diff():
    check_snapshot(FIXTURES / "EXP401" / "side_effects.py", ("EXP401", "EXP402", "EXP403", "EXP404"))


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
    assert lint(source, ("EXP401", "EXP402", "EXP403", "EXP404")) == []


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
    assert lint(source, ("EXP401", "EXP402", "EXP403", "EXP404")) == []


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
    found = lint(source, ("EXP401",))
    assert [(d.code, d.start.row) for d in found] == [("EXP401", 9)]
    assert "y = x.permute(1, 0)" in fix(source, ("EXP401",)).text


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
