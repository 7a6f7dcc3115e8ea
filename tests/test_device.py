"""Train/eval and device rules (EXP501, EXP502): golden diagnostics and fix diff, look-alikes that
must stay silent, and (slow) the measured divergence and device failure re-checked.
"""

from __future__ import annotations

import pytest
from golden import FIXTURES, check_snapshot, fix, lint, script_fixture

measure = script_fixture("measure_side_effects")


def test_golden_diagnostics_and_fix_diff():
    check_snapshot(FIXTURES / "EXP501" / "train_mode_and_device.py", ("EXP501", "EXP502"))


@pytest.mark.parametrize(
    "script",
    [
        "model = Net()\nmodel.eval()\ntorch.export.export(model, (x,))",
        "model = Net().eval()\ntorch.export.export(model, (x,))",
        "model = Net()\nmodel.train(False)\ntorch.export.export(model, (x,))",
        "model = Net()\nload(model)\ntorch.export.export(model, (x,))",
        "model = make_net()\ntorch.export.export(model, (x,))",  # cannot see its layers
        "torch.export.export(torch.nn.Linear(4, 4), (x,))",  # no training behaviour
        "model = Net()\nmodel = wrap(model)\ntorch.export.export(model, (x,))",
    ],
)
def test_train_mode_look_alikes_are_silent(script):
    source = (
        "import torch\n\n\nclass Net(torch.nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.drop = torch.nn.Dropout()\n\n    def forward(self, x):\n        return self.drop(x)\n\n\n"
        "x = torch.randn(2, 4)\n" + script + "\n"
    )
    assert lint(source, ("EXP501",)) == []


def test_code_reading_self_training_counts_as_training_behaviour():
    source = """
        import torch


        class Noisy(torch.nn.Module):
            def forward(self, x):
                return x + torch.randn_like(x) if self.training else x


        class Wrapper(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.inner = Noisy()

            def forward(self, x):
                return self.inner(x)


        def main():
            wrapper = Wrapper()
            return torch.export.export(wrapper, (torch.randn(2),))
    """
    found = lint(source, ("EXP501",))
    assert len(found) == 1 and "self.training" in found[0].message
    assert "    wrapper.eval()\n    return torch.export.export(wrapper" in fix(source, ("EXP501",)).text


@pytest.mark.parametrize(
    "body",
    [
        "return x + torch.ones(x.shape, device=x.device)",
        "return x.to('cpu')",
        "return x + torch.ones(3, device='cpu')",
        "if x.device.type == 'cuda':\n            x = x.cuda()\n        return x",
        "return x * torch.cuda.device_count()",
    ],
)
def test_device_look_alikes_are_silent(body):
    source = f"import torch\n\n\nclass Model(torch.nn.Module):\n    def forward(self, x):\n        {body}\n"
    assert lint(source, ("EXP502",)) == []


def test_cuda_pins_outside_traced_code_are_silent():
    source = """
        import torch

        device = torch.device("cuda")
        model = torch.nn.Linear(3, 3).cuda()
        x = torch.randn(2, 3, device="cuda")
    """
    assert lint(source, ("EXP502",)) == []


# -- slow ---------------------------------------------------------------------------------------
@pytest.mark.slow
def test_training_mode_export_diverges_from_eval(measure):
    for name in ("dropout-train-mode", "batchnorm-train-mode"):
        row = measure.measure(name, strict=False)
        assert row["export"] == "exports" and row["vs eager"].startswith("DIVERGES"), row
    assert measure.measure("dropout-eval-mode", strict=False)["vs eager"] == "same"


@pytest.mark.slow
def test_cuda_literal_exports_then_fails_to_run_without_cuda(measure):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("measures a host without CUDA")
    row = measure.measure('device="cuda" literal', strict=False)
    assert row["export"] == "exports"
    assert row["vs eager"].startswith("run fails: RuntimeError")
