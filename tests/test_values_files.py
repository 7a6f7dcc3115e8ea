"""The value analysis follows calls into other files: a helper's return value, a submodule class
defined elsewhere, and the results cache that must see edits of the bodies it read."""

from __future__ import annotations

import textwrap

import pytest

import export_lint
from export_lint import cache as cache_module
from export_lint import runner
from export_lint.config import Settings

HELPERS = """
import torch


def scores(x):
    return x.softmax(-1)


def flag(x):
    return True


class Encoder(torch.nn.Module):
    def forward(self, x):
        return x.relu()

    def encode(self, x):
        return x.max().item()
"""

MODEL = """
import torch

from helpers import Encoder, flag, scores


class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = Encoder()

    def forward(self, x):
        s = scores(x)
        if s.max() > 0.5:
            x = x + 1
        if flag(x):
            x = x * 2
        h = self.encoder(x)
        if h.sum() > 0:
            x = x - 1
        if self.encoder.encode(x) > 0:
            x = x / 2
        return x
"""


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cache_module, "_code_fingerprint", lambda: export_lint.__version__)
    (tmp_path / "helpers.py").write_text(textwrap.dedent(HELPERS))
    (tmp_path / "model.py").write_text(textwrap.dedent(MODEL))
    return tmp_path


def _lint(root, cache: bool = False) -> list[tuple[int, str]]:
    settings = Settings(select=("EXP301",), project_root=str(root), traced="all-modules")
    results = runner.lint_files(["model.py"], settings, jobs=1, cache=cache)
    return [(d.start.row, d.code) for result in results for d in result.diagnostics]


def test_return_values_of_helpers_and_submodules_defined_in_another_file(project):
    assert _lint(project) == [(14, "EXP301"), (19, "EXP301"), (21, "EXP301")]


def test_an_edited_helper_body_is_seen_through_the_cache(project):
    assert _lint(project, cache=True) == [(14, "EXP301"), (19, "EXP301"), (21, "EXP301")]
    helpers = project / "helpers.py"
    helpers.write_text(helpers.read_text().replace("return x.softmax(-1)", "return 0.0"))
    assert _lint(project, cache=True) == [(19, "EXP301"), (21, "EXP301")]


def test_installed_dependencies_and_large_files_are_not_followed(project):
    from export_lint.analysis.values import other_files

    importer = str(project / "model.py")
    assert other_files.semantic_of("helpers.scores", importer) is not None
    assert other_files.semantic_of("torchvision.ops.boxes.nms", importer) is None  # an installed dependency
    assert other_files.semantic_of("torch.nn.functional.relu", importer) is None
    (project / "big.py").write_text("def f(x):\n    return x\n" + "# padding\n" * (other_files.MAX_BYTES // 10))
    assert other_files.semantic_of("big.f", importer) is None


def test_a_helper_an_export_root_reaches_from_another_file_passes_its_values_on(tmp_path):
    # torchvision-style: ops.py's public function is called from the model's file; the private
    # helper it calls loops over a data-shaped tensor (EXP302 there).
    import subprocess
    import sys

    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    (tmp_path / "ops.py").write_text(
        textwrap.dedent(
            """
            import torch
            from torch import Tensor


            def _per_class(boxes: Tensor, idxs: Tensor) -> Tensor:
                keep = []
                for class_id in torch.unique(idxs):
                    keep.append(boxes[idxs == class_id].sum())
                return torch.stack(keep)


            def batched(boxes: Tensor, idxs: Tensor) -> Tensor:
                if boxes.numel() > 4000:
                    return _per_class(boxes, idxs)
                return boxes.sum(0)
            """
        )
    )
    (tmp_path / "model.py").write_text(
        textwrap.dedent(
            """
            import torch

            from ops import batched


            class Detector(torch.nn.Module):
                def forward(self, boxes, idxs):
                    return batched(boxes, idxs)


            torch.export.export(Detector(), (torch.randn(8, 4), torch.zeros(8, dtype=torch.long)))
            """
        )
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "export_lint",
            "check",
            "--no-cache",
            "--select",
            "EXP302",
            "--output-format",
            "concise",
            ".",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "ops.py:8:" in done.stdout and "EXP302" in done.stdout, done.stdout + done.stderr
