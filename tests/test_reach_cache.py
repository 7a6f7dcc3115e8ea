"""The project index cached per file hash (analysis.reach_cache): reused while nothing changed,
rescanning only changed files, and never trusting a file it did not write."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from export_lint.analysis import reach_cache
from export_lint.analysis.index import ProjectIndex
from export_lint.analysis.roots import compute_reach

MODEL = """
import torch


class Net(torch.nn.Module):
    def forward(self, x):
        return x


class Other(torch.nn.Module):
    def forward(self, x):
        return x
"""
EXPORT = "import torch\nfrom model import Net\n\ntorch.export.export(Net(), (torch.ones(1),))\n"


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))  # the HMAC key lives there
    root = tmp_path / "project"
    root.mkdir()
    (root / "model.py").write_text(textwrap.dedent(MODEL))
    (root / "export.py").write_text(EXPORT)
    for number in range(5):
        (root / f"util_{number}.py").write_text(f"VALUE = {number}\n")
    return root


@pytest.fixture
def calls(monkeypatch):
    """The ``scans`` each computation of the reach was given (what the cache already knew)."""
    seen: list[dict] = []

    def counting(index, patterns=(), scans=None):
        seen.append(dict(scans or {}))
        return compute_reach(index, patterns, scans)

    monkeypatch.setattr(reach_cache, "compute_reach", counting)
    return seen


def reach_of(root: Path):
    return reach_cache.cached_reach(str(root), (), root / ".export_lint_cache")


def test_an_unchanged_project_reuses_the_stored_reach(project, calls):
    first = reach_of(project)
    assert first.roots == ("export of Net at export.py:4",)
    again = reach_of(project)
    assert again == first and len(calls) == 1  # the second run computed nothing
    assert again == compute_reach(ProjectIndex(str(project)))
    (index_file,) = (project / ".export_lint_cache").glob("*.index")
    header, payload = index_file.read_bytes().split(b"\n", 1)
    assert json.loads(header)["format"] == "export-lint-cache" and isinstance(json.loads(payload), dict)


def test_a_changed_file_is_rescanned_and_the_others_are_not(project, calls):
    reach_of(project)
    (project / "export.py").write_text(EXPORT.replace("Net", "Other"))
    changed = reach_of(project)
    assert changed.roots == ("export of Other at export.py:4",)
    assert len(calls) == 2
    known = {Path(path).name for path in calls[1]}
    assert "export.py" not in known and {"model.py", "util_0.py", "util_4.py"} <= known


def test_export_roots_patterns_are_part_of_the_key(project, calls):
    reach_of(project)
    patterned = reach_cache.cached_reach(str(project), ("model:Other",), project / ".export_lint_cache")
    assert "export-roots entry 'model:Other'" in patterned.roots and len(calls) == 2


def test_an_index_file_edited_by_hand_is_not_trusted(project, calls):
    reach_of(project)
    (index_file,) = (project / ".export_lint_cache").glob("*.index")
    header, payload = index_file.read_bytes().split(b"\n", 1)
    entries = json.loads(payload)
    entries["<reach>"]["roots"] = ["export of Planted at nowhere.py:1"]
    entries["<reach>"]["files"] = []
    index_file.write_bytes(header + b"\n" + json.dumps(entries).encode())
    found = reach_of(project)
    assert found.roots == ("export of Net at export.py:4",) and len(calls) == 2


def test_no_cache_folder_means_no_cache(project, calls):
    reach_cache.cached_reach(str(project), (), None)
    reach_cache.cached_reach(str(project), (), None)
    assert len(calls) == 2 and not (project / ".export_lint_cache").exists()


def test_the_files_proven_free_of_export_calls_are_stored_with_the_reach(project, calls):
    (project / "runner.py").write_text("import torch\n\n\nclass Runner:\n    def go(self):\n        self.export()\n")
    first = reach_of(project)
    assert [path for path, _ in first.export_free] == [str((project / "runner.py").resolve())]
    again = reach_of(project)
    assert again == first and len(calls) == 1
