"""The definitions no rule can look at are blanked before LibCST parses a file: which ones, that
positions stay the file's, and that no finding, fix or noqa judgement changes."""

from __future__ import annotations

import ast
import os
import textwrap
from pathlib import Path

import pytest

from export_lint import engine
from export_lint.analysis.call_sites import calls_on_lines, imports_of, may_call_export, word_lines
from export_lint.analysis.index import ProjectIndex
from export_lint.analysis.reach_cache import _decode_reach, _encode_reach
from export_lint.analysis.roots import compute_reach
from export_lint.analysis.untraced import blank_ranges, blanked_text
from export_lint.config import Settings
from export_lint.engine import lint_text
from export_lint.rules import all_rules

SCRIPT = '''\
"""Exports a model; the helpers around it are none of export's business."""
import torch

from models import Encoder

SIZE = 4


def make_inputs():
    return (torch.randn(SIZE, 8),)


def plot_losses(history):  # noqa: EXP101
    import matplotlib.pyplot as plt

    plt.plot(history)


class Logger:
    def log(self, value):
        print(value)


@torch.no_grad()
def main():
    model = Encoder().eval()
    program = torch.export.export(model, make_inputs())
    print(program)


if __name__ == "__main__":
    main()
'''

TESTS = """\
import unittest

import torch


class Small(torch.nn.Module):
    def forward(self, x):
        return x + 1


class ExportTest(unittest.TestCase):
    def setUp(self):
        self.example = (torch.randn(2, 3),)

    def _build(self):
        self.model = Small()

    def test_export(self):
        self._build()
        torch.export.export(self.model, self.example)

    def test_shapes(self):
        self.assertEqual(torch.randn(2).shape, (2,))

    def test_dtype(self):
        self.assertEqual(torch.randn(2).dtype, torch.float32)
"""


def export_calls_of(text: str, tree: ast.Module) -> list[ast.Call]:
    """The calls that may be export calls, as the project index passes them."""
    imports = imports_of(tree)
    calls, _ = calls_on_lines(tree, word_lines(text, imports.export_words))
    return [call for call in calls if may_call_export([call], imports.targets)]


def _ranges(text: str, reached=()) -> list[str]:
    tree = ast.parse(text)
    lines = text.splitlines()
    return [lines[first - 1].strip() for first, _ in blank_ranges(text, tree, reached, export_calls_of(text, tree))]


def test_a_script_keeps_the_export_call_the_helpers_it_names_and_module_code():
    assert _ranges(SCRIPT) == ["def plot_losses(history):  # noqa: EXP101", "class Logger:"]


def test_a_test_class_keeps_its_exporting_methods_setup_and_what_they_use():
    # test_export exports; setUp is the framework's; _build is called by name and stores self.model,
    # which test_export reads; Small is named. The two other tests go.
    assert _ranges(TESTS) == ["def test_shapes(self):", "def test_dtype(self):"]


def test_a_method_storing_an_attribute_kept_code_reads_is_kept():
    text = TESTS.replace("self._build()\n", "")
    assert _ranges(text) == ["def test_shapes(self):", "def test_dtype(self):"]  # _build stores self.model


def test_what_a_root_reaches_is_kept_whole():
    text = TESTS.replace("torch.export.export(self.model, self.example)", "pass")
    # no export call: only what the roots reach stays (the whole test class is no shell then)
    assert _ranges(text, ["Small.forward"]) == ["class ExportTest(unittest.TestCase):"]


def test_a_name_bound_twice_and_a_global_declaration_keep_their_definitions():
    text = SCRIPT + "\n\ndef plot_losses(history, style):\n    global SIZE\n    SIZE = 2\n"
    assert _ranges(text) == ["class Logger:"]


def test_the_blanked_text_has_the_files_offsets_and_rows():
    text = SCRIPT.replace("\n", "\r\n", 5)
    tree = ast.parse(text)
    ranges = blank_ranges(text, tree, (), export_calls_of(text, tree))
    visible = blanked_text(text, ranges)
    assert len(visible) == len(text)
    assert [i for i, c in enumerate(visible) if c in "\r\n"] == [i for i, c in enumerate(text) if c in "\r\n"]
    assert "plot_losses" not in visible and "class Logger" not in visible
    assert visible.index("torch.export.export") == text.index("torch.export.export")
    ast.parse(visible)  # still Python


def _project(tmp_path: Path, files: dict[str, str]):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return compute_reach(ProjectIndex(str(tmp_path)))


MODELS = """\
import torch


class Encoder(torch.nn.Module):
    def forward(self, x):
        if x.sum() > 0:
            return x
        return -x
"""


def _both(monkeypatch, text: str, path: str, settings: Settings) -> tuple[list, list, list[str]]:
    """(diagnostics blanked, diagnostics whole, the texts LibCST parsed while blanking)."""
    parsed: list[str] = []
    real = engine.cst.parse_module
    monkeypatch.setattr(engine.cst, "parse_module", lambda source: parsed.append(source) or real(source))
    blanked = lint_text(text, path, settings)
    monkeypatch.setattr(engine, "BLANK_UNTRACED", False)
    whole = lint_text(text, path, settings)
    monkeypatch.setattr(engine, "BLANK_UNTRACED", True)
    return blanked, whole, parsed


def test_the_engine_parses_the_blanked_text_and_finds_the_same(tmp_path, monkeypatch):
    reach = _project(tmp_path, {"export_model.py": SCRIPT, "models.py": MODELS, "test_small.py": TESTS})
    settings = Settings(select=("ALL",), reach=reach)
    for name, text in (("export_model.py", SCRIPT), ("test_small.py", TESTS)):
        path = os.path.realpath(tmp_path / name)
        assert reach.blank_ranges(path, text)
        blanked, whole, parsed = _both(monkeypatch, text, path, settings)
        assert blanked == whole
        assert parsed and all(len(source) == len(text) and source != text for source in parsed[:1])
    # the noqa comment in the blanked helper is judged as before: EXP900 says it is unused
    path = os.path.realpath(tmp_path / "export_model.py")
    assert [d.code for d in lint_text(SCRIPT, path, settings)] == ["EXP900"]


def test_a_text_the_index_did_not_read_is_parsed_whole(tmp_path, monkeypatch):
    reach = _project(tmp_path, {"export_model.py": SCRIPT, "models.py": MODELS})
    path = os.path.realpath(tmp_path / "export_model.py")
    edited = SCRIPT.replace("SIZE = 4", "SIZE = 5")
    assert reach.blank_ranges(path, edited) is None
    _, _, parsed = _both(monkeypatch, edited, path, Settings(reach=reach))
    assert parsed[0] == edited


def test_a_removed_api_word_turns_blanking_off(tmp_path, monkeypatch):
    # EXP004 reports wherever `capture_pre_autograd_graph` is called, traced or not
    text = SCRIPT.replace("def plot_losses(history):", "def plot_losses(history):\n    capture_pre_autograd_graph")
    reach = _project(tmp_path, {"export_model.py": text, "models.py": MODELS})
    path = os.path.realpath(tmp_path / "export_model.py")
    _, _, parsed = _both(monkeypatch, text, path, Settings(select=("ALL",), reach=reach))
    assert parsed[0] == text


def test_the_reach_cache_keeps_the_blanks_and_refuses_bad_ones(tmp_path):
    reach = _project(tmp_path, {"export_model.py": SCRIPT, "models.py": MODELS})
    assert reach.blanks
    stored = _encode_reach(reach, "state")
    assert _decode_reach(stored, "state") == reach
    for bad in ([[3, 2]], [[0, 1]], [[5, 6], [4, 7]], [["1", 2]], [[1]]):
        broken = dict(stored, blanks=[[reach.blanks[0][0], reach.blanks[0][1], bad]])
        assert _decode_reach(broken, "state") is None, bad


EXAMPLES = [
    (rule.code, kind, index, case.code)
    for rule in all_rules()
    for kind, cases in (("VALID", rule.VALID), ("INVALID", rule.INVALID))
    for index, case in enumerate(cases)
]


ROOT = Path(__file__).resolve().parent.parent
SOURCES = [
    *sorted((ROOT / "tests" / "fixtures").rglob("*.py")),
    *sorted((ROOT / "examples").glob("*.py")),
    *sorted((ROOT / "export_lint" / "verify" / "cases").glob("[!_]*.py")),
]


@pytest.mark.parametrize(("code", "kind", "index", "text"), EXAMPLES, ids=lambda v: str(v)[:12])
def test_blanking_changes_no_finding_of_any_rule_example(code, kind, index, text, tmp_path, monkeypatch):
    path = str(tmp_path / "example.py")
    text = textwrap.dedent(text)
    Path(path).write_text(text)
    blanked, whole, _ = _both(monkeypatch, text, path, Settings(select=("ALL",)))
    assert blanked == whole


@pytest.mark.parametrize("source", SOURCES, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_blanking_changes_no_finding_in_fixtures_and_cases(source, tmp_path, monkeypatch):
    # each file alone in a project: its own export calls are its roots
    text = source.read_text(encoding="utf-8")
    path = str(tmp_path / source.name)
    Path(path).write_text(text, encoding="utf-8")
    blanked, whole, _ = _both(monkeypatch, text, path, Settings(select=("ALL",)))
    assert blanked == whole


def test_a_rule_that_may_report_anywhere_without_words_turns_blanking_off(tmp_path, monkeypatch):
    reach = _project(tmp_path, {"export_model.py": SCRIPT, "models.py": MODELS})
    path = os.path.realpath(tmp_path / "export_model.py")
    rule = next(rule for rule in all_rules() if rule.code == "EXP101")
    monkeypatch.setattr(rule, "traced_only", False)
    monkeypatch.setattr(rule, "requires", ())
    _, _, parsed = _both(monkeypatch, SCRIPT, path, Settings(select=("ALL",), reach=reach))
    assert parsed[0] == SCRIPT


def test_a_blanked_last_definition_without_a_final_newline_still_parses(tmp_path, monkeypatch):
    text = SCRIPT.replace('if __name__ == "__main__":\n    main()\n', "") + "\n\ndef unused():\n    return 1"
    reach = _project(tmp_path, {"export_model.py": text, "models.py": MODELS})
    path = os.path.realpath(tmp_path / "export_model.py")
    assert reach.blank_ranges(path, text)[-1] == (len(text.splitlines()) - 1, len(text.splitlines()))
    blanked, whole, parsed = _both(monkeypatch, text, path, Settings(select=("ALL",), reach=reach))
    assert blanked == whole and parsed[0] != text and parsed[0].endswith(" " * len("    return 1"))


def test_a_fix_inside_a_blanked_definition_edits_the_files_text(tmp_path, monkeypatch):
    # EXP900 removes the unused noqa comment of the blanked helper: its edit is on a blanked line
    from export_lint.fixer import fix_text

    reach = _project(tmp_path, {"export_model.py": SCRIPT, "models.py": MODELS})
    path = os.path.realpath(tmp_path / "export_model.py")
    settings = Settings(select=("ALL",), reach=reach)
    blanked, whole, _ = _both(monkeypatch, SCRIPT, path, settings)
    assert blanked == whole and [d.code for d in blanked if d.fix] == ["EXP900"]
    fixed = fix_text(SCRIPT, path, settings, unsafe=True).text
    monkeypatch.setattr(engine, "BLANK_UNTRACED", False)
    assert fixed == fix_text(SCRIPT, path, settings, unsafe=True).text
    assert fixed == SCRIPT.replace("def plot_losses(history):  # noqa: EXP101", "def plot_losses(history):")
