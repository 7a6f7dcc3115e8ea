"""Train/eval and device rules (EXP501, EXP502): golden diagnostics and fix diff, look-alikes that
must stay silent, and (slow) the measured divergence and device failure re-checked.
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
    _check_snapshot(FIXTURES / "EXP501" / "train_mode_and_device.py", ("EXP501", "EXP502"))


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
    assert _lint(source, ("EXP501",)) == []


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
    found = _lint(source, ("EXP501",))
    assert len(found) == 1 and "self.training" in found[0].message
    assert "    wrapper.eval()\n    return torch.export.export(wrapper" in _fix(source, ("EXP501",))


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
    assert _lint(source, ("EXP502",)) == []


def test_cuda_pins_outside_traced_code_are_silent():
    source = """
        import torch

        device = torch.device("cuda")
        model = torch.nn.Linear(3, 3).cuda()
        x = torch.randn(2, 3, device="cuda")
    """
    assert _lint(source, ("EXP502",)) == []


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
