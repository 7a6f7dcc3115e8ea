"""The torch facts table: generated from the installed torch, current, and read without torch."""

from __future__ import annotations

import subprocess
import sys

import pytest
from golden import ROOT, lint

from export_lint.analysis import torch_facts


def test_table_is_current_for_the_installed_torch():
    pytest.importorskip("torch")
    # A fresh process: a worker that already ran torch.export has registered more ops than torch starts with.
    command = [sys.executable, str(ROOT / "scripts" / "gen_torch_facts.py"), "--check"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, "run: python scripts/gen_torch_facts.py\n" + done.stdout + done.stderr


def test_facts_come_from_torch_not_from_a_list():
    table = torch_facts.table()
    assert {"nonzero", "masked_select", "_unique2"} <= set(table["dynamic_output_shape"])
    assert "item" in table["data_dependent_output"]
    assert table["tensor_methods"]["new_zeros"] == "tensor"
    assert table["functions"]["split"] == "tensors" and table["functions"]["numel"] == "int"
    # The few hand-named exceptions are exactly the ones the stubs cannot give.
    assert not torch_facts.NON_TENSOR_UNLISTED & set(table["functions"])
    assert not torch_facts.DATA_SHAPED_COMPOSITES & set(table["dynamic_output_shape"])


def test_reading_the_facts_never_imports_torch():
    code = (
        "import sys\n"
        "from export_lint.analysis import torch_facts\n"
        "torch_facts.data_shaped_names(); torch_facts.function_returns_tensor('torch.split')\n"
        "print('torch' in sys.modules)\n"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert found.stdout.strip() == "False"


def test_generated_facts_reach_the_value_analysis():
    # ``bincount`` is data-shaped by its tag (no hand list names it); ``new_zeros`` is a tensor by its stub.
    found = lint(
        """
        import torch

        class M(torch.nn.Module):
            def forward(self, x: torch.Tensor):
                counts = torch.bincount(x)
                if counts.numel() > 3:
                    return x
                fresh = x.new_zeros(3)
                if fresh.sum() > 0:
                    return x
                return counts
        """,
        ["EXP301", "EXP302", "EXP303"],
    )
    assert sorted(d.start.row for d in found) == [7, 10], [d.message for d in found]
