"""What a model hands to code in other files: submodules passed to a base class's constructor, and
the values traced code of one file passes to a function of another (a detection model's heads
calling box ops with data-shaped boxes)."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from export_lint.analysis.index import ProjectIndex
from export_lint.analysis.reach_cache import _decode_reach, _encode_reach
from export_lint.analysis.roots import compute_reach
from export_lint.config import Settings
from export_lint.engine import lint_text

#: A two-stage detector in the style of the common detection libraries: the subclass builds its
#: parts and hands them to the generic base class, which stores them and calls them in forward.
DETECTOR = """
    import torch
    from torch import nn

    from . import box_ops
    from .heads import ProposalHead, ScoreHead


    class TwoStage(nn.Module):
        def __init__(self, backbone, proposals, scorer):
            super().__init__()
            self.backbone = backbone
            self.proposals = proposals
            self.scorer = scorer

        def forward(self, images):
            features = self.backbone(images)
            boxes, scores = self.proposals(features)
            return self.scorer(boxes, scores)


    class Detector(TwoStage):
        def __init__(self, threshold: float = 0.5):
            backbone = nn.Conv2d(3, 8, 3)
            proposals = ProposalHead(threshold)
            super().__init__(backbone, proposals, ScoreHead())
"""

HEADS = """
    import torch
    from torch import nn

    from . import box_ops


    class ProposalHead(nn.Module):
        def __init__(self, threshold: float):
            super().__init__()
            self.threshold = threshold
            self.regress = nn.Linear(8, 4)

        def forward(self, features):
            scores = features.flatten(1).sigmoid().amax(1)
            boxes = self.regress(features.flatten(2).transpose(1, 2)).flatten(0, 1)
            keep = torch.where(scores.flatten() > self.threshold)[0]
            boxes, scores = boxes[keep], scores.flatten()[keep]
            keep = box_ops.suppress(boxes, scores)
            return boxes[keep], scores[keep]


    class ScoreHead(nn.Module):
        def forward(self, boxes, scores):
            if self.training:
                box_ops.suppress(boxes.detach(), scores)
            return box_ops.clip(boxes), scores
"""

BOX_OPS = """
    import torch
    from torch import Tensor


    def suppress(boxes: Tensor, scores: Tensor) -> Tensor:
        if boxes.numel() == 0:
            return torch.empty((0,), dtype=torch.int64)
        return scores.argsort(descending=True)


    def clip(boxes: Tensor) -> Tensor:
        if boxes.sum() > 1e6:
            return boxes.clamp(max=1e6)
        return boxes
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    files = {
        "pyproject.toml": '[project]\nname = "det"\n',
        "det/__init__.py": "",
        "det/model.py": DETECTOR,
        "det/heads.py": HEADS,
        "det/box_ops.py": BOX_OPS,
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(textwrap.dedent(text))
    return tmp_path


def _reach(root: Path):
    return compute_reach(ProjectIndex(str(root)), ["det.model:Detector"])


def _by_file(root: Path, reach) -> dict[str, set[str]]:
    real = os.path.realpath(root)
    return {os.path.relpath(path, real): {name for name, _ in entries} for path, entries in reach.files}


def test_parts_built_in_init_and_handed_to_the_base_class_are_traced(project):
    found = _by_file(project, _reach(project))
    assert found["det/model.py"] == {"TwoStage.forward"}
    # super().__init__(backbone, proposals, ScoreHead()) stores them as self.proposals/self.scorer
    assert found["det/heads.py"] == {"ProposalHead.forward", "ScoreHead.forward"}
    assert found["det/box_ops.py"] == {"suppress", "clip"}


def test_parts_passed_by_keyword_to_a_constructor_are_traced(project):
    (project / "det" / "build.py").write_text(
        textwrap.dedent(
            """
            from .heads import ProposalHead, ScoreHead
            from .model import TwoStage


            def build(backbone):
                return TwoStage(backbone, proposals=ProposalHead(0.5), scorer=ScoreHead())
            """
        )
    )
    reach = compute_reach(ProjectIndex(str(project)), ["det.model:TwoStage"])
    assert _by_file(project, reach)["det/heads.py"] == {"ProposalHead.forward", "ScoreHead.forward"}


def test_the_reach_records_the_calls_other_files_make(project):
    reach = _reach(project)
    box_ops = reach.callers_of(str(project / "det" / "box_ops.py"))
    heads = os.path.realpath(project / "det" / "heads.py")
    assert box_ops["suppress"] == (
        (heads, "ProposalHead.forward", "suppress", 0),
        (heads, "ScoreHead.forward", "suppress", 0),
    )
    assert box_ops["clip"] == ((heads, "ScoreHead.forward", "clip", 0),)
    # the project index cache stores and restores them
    assert _decode_reach(_encode_reach(reach, "s"), "s") == reach


def _findings(project: Path, name: str) -> list[tuple[int, str]]:
    path = project / "det" / name
    settings = Settings(select=("EXP3",), project_root=str(project), reach=_reach(project))
    return [(d.start.row, d.code) for d in lint_text(path.read_text(), str(path), settings)]


def test_a_data_shaped_tensor_passed_from_another_file_reaches_the_branch_on_its_size(project):
    # ProposalHead passes boxes indexed by torch.where(...) (data-shaped): `boxes.numel() == 0`
    # cannot be decided while tracing. ScoreHead's call runs only in training: it passes nothing.
    # clip() gets the boxes ScoreHead received from another module's output (unknown to the
    # analysis): its `boxes.sum() > 1e6` is still a branch on a tensor (the annotation says so).
    assert _findings(project, "box_ops.py") == [(7, "EXP301"), (13, "EXP301")]


def test_plain_tensors_from_the_callers_give_no_data_dependent_size(project):
    heads = project / "det" / "heads.py"
    heads.write_text(heads.read_text().replace("boxes, scores = boxes[keep], scores.flatten()[keep]", "pass"))
    assert _findings(project, "box_ops.py") == [(13, "EXP301")]


DURATIONS = """
    import torch
    from torch import nn


    def expand(hidden, durations):
        if durations.sum() == 0:
            durations = durations + 1
        return torch.repeat_interleave(hidden, durations[0], dim=1)


    class DurationPredictor(nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = nn.Linear(16, 1)

        def forward(self, hidden):
            return self.proj(hidden).squeeze(-1).exp().round().long()


    class Speech(nn.Module):
        def __init__(self, encoder):
            super().__init__()
            self.encoder = encoder
            self.durations = DurationPredictor()

        def forward(self, ids):
            hidden = self.encoder(ids)[0]
            return expand(hidden, self.durations(hidden))
"""


def test_a_tensor_layer_returns_a_tensor_even_when_its_input_is_unknown(tmp_path):
    # `self.encoder(ids)[0]` is unknown (a module handed in), yet nn.Linear's output is a tensor:
    # the predicted durations' sum is a tensor branch.
    path = tmp_path / "speech.py"
    path.write_text(textwrap.dedent(DURATIONS))
    settings = Settings(select=("EXP301",), traced="all-modules")
    assert [(d.start.row, d.code) for d in lint_text(path.read_text(), str(path), settings)] == [(7, "EXP301")]


GLOBAL_ATTENTION = """
    import torch
    from torch import nn


    def inverted(mask: torch.Tensor, dtype: torch.dtype):
        expanded = mask[:, None, None, :].to(dtype)
        return (1.0 - expanded) * torch.finfo(dtype).min


    class SelfAttention(nn.Module):
        def forward(self, hidden, is_global=None):
            if is_global:
                return hidden * 2
            return hidden


    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = SelfAttention()

        def forward(self, hidden, mask=None, is_global=None):
            return self.inner(hidden, is_global=is_global)


    class Layer(nn.Module):
        def __init__(self):
            super().__init__()
            self.attention = Attention()

        def forward(self, hidden, mask=None, is_global=None):
            return self.attention(hidden, mask=mask, is_global=is_global)


    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList([Layer() for _ in range(2)])

        def forward(self, hidden, mask=None):
            if mask is None:
                mask = torch.ones(hidden.shape[:2], dtype=torch.long)
            mask = inverted(mask, hidden.dtype)[:, 0, 0, :]
            is_global = (mask > 0).flatten().any().item()
            for layer in self.layers:
                hidden = layer(hidden, mask=mask, is_global=is_global)
            return hidden


    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = Encoder()

        def forward(self, hidden, mask=None):
            return self.encoder(hidden, mask=mask)
"""


def test_a_number_read_from_data_reaches_a_branch_three_submodules_down(tmp_path):
    # Longformer-style global attention: the flag read with .item() is passed by keyword through
    # the layers; the innermost branch on it cannot be decided while tracing. (A summary deeper
    # in the call chain that cannot tell the flag does not hide what the direct calls pass.)
    path = tmp_path / "encoder.py"
    path.write_text(textwrap.dedent(GLOBAL_ATTENTION))
    settings = Settings(select=("EXP301",), traced="all-modules")
    assert [(d.start.row, d.code) for d in lint_text(path.read_text(), str(path), settings)] == [(13, "EXP301")]


def test_an_edit_of_the_calling_file_is_seen_through_the_results_cache(project):
    import subprocess
    import sys

    (project / "pyproject.toml").write_text(
        '[project]\nname = "det"\n\n[tool.export-lint]\nexport-roots = ["det.model:Detector"]\n'
    )

    def check() -> list[str]:
        done = subprocess.run(
            [sys.executable, "-m", "export_lint", "check", "--select", "EXP301", "--output-format", "concise", "."],
            cwd=project,
            capture_output=True,
            text=True,
            timeout=120,
        )
        return sorted(line.split(" ")[0] for line in done.stdout.splitlines() if "EXP301" in line)

    assert check() == ["det/box_ops.py:13:8:", "det/box_ops.py:7:8:"]
    heads = project / "det" / "heads.py"
    heads.write_text(heads.read_text().replace("boxes, scores = boxes[keep], scores.flatten()[keep]", "pass"))
    assert check() == ["det/box_ops.py:13:8:"]  # box_ops.py itself did not change
