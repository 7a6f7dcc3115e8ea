"""Export calls found on the ``ast`` without walking every node (analysis.call_sites), and the
engine's use of it: a file whose export-looking calls cannot be torch's is not parsed by LibCST,
and reports what the parse would have reported."""

from __future__ import annotations

import ast
import os
import textwrap

import libcst as cst
import pytest

from export_lint import engine
from export_lint.analysis import call_sites
from export_lint.analysis.index import ProjectIndex
from export_lint.analysis.roots import compute_reach
from export_lint.analysis.semantic import SemanticModel
from export_lint.config import Settings
from export_lint.engine import lint_text

#: Calls everywhere a call can be: decorators above their ``def``, defaults, lambdas,
#: comprehensions, class bodies, ``match`` cases, calls spread over lines, calls inside calls.
TRICKY = """
import torch
from torch.export import export_for_training as capture


@register(torch.export.export(Net(), ()))
def make(x=helper(export=1)):
    f = lambda m: torch.export.export(m, ())
    return [capture(m) for m in models(export=True)]


class Exporter:
    program = torch.export.export(
        Net(),
        (torch.ones(1),),
    )

    def export(self):
        return self.export()


match command:
    case "export":
        run(exported(torch.export.export(Net(), ())))
    case _:
        pass
"""

SEMANTIC_CASES = {
    "method of its own": "import torch\n\n\nclass Runner:\n    def go(self):\n        self.export()\n",
    "another package's export": "import torch\nfrom executorch import exir\n\nexir.export(model)\n",
    "torch.export.export": "import torch\n\ntorch.export.export(model, ())\n",
    "renamed import": "import torch\nfrom torch.export import export_for_training as capture\n\ncapture(model)\n",
    "module alias": "import torch.export as te\n\nte.export(model, ())\n",
    "imported function": "from torch.export import export\n\nexport(model, ())\n",
    "unbound name": "import torch\n\nexport(model, ())\n",
    "relative import": "import torch\nfrom .torch import export\n\nexport(model, ())\n",
    "in a function": "def run(model):\n    import torch\n    return torch.export.export(model, ())\n",
    "private _export": "import torch\nfrom torch.export._trace import _export\n\n_export(model, ())\n",
}


def _all_calls(tree: ast.AST) -> list[ast.Call]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)]


@pytest.mark.parametrize("words", [("export",), ("capture",), ("torch", "run"), ("ones",), ("nothing here",)])
def test_calls_come_in_ast_walk_order_and_none_saying_the_words_is_missed(words):
    tree = ast.parse(TRICKY)
    calls, _ = call_sites.calls_on_lines(tree, call_sites.word_lines(TRICKY, words))
    saying = [call for call in _all_calls(tree) if any(word in ast.get_source_segment(TRICKY, call) for word in words)]
    assert [call for call in calls if call in saying] == saying
    assert [call for call in _all_calls(tree) if call in calls] == calls  # the walk's order


def test_every_line_gives_every_call_and_the_true_parents():
    tree = ast.parse(TRICKY)
    lines = list(range(1, TRICKY.count("\n") + 2))
    calls, parents = call_sites.calls_on_lines(tree, lines)
    assert calls == _all_calls(tree)
    # Load/Store contexts are shared by every name: they have no one parent, and none is asked for.
    nodes = {id(node): node for node in ast.walk(tree) if not isinstance(node, ast.expr_context)}
    truth = {id(child): parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}
    assert {key: parents[key] for key in nodes if key in truth} == {key: truth[key] for key in nodes if key in truth}
    assert parents.keys() == truth.keys()
    partial = call_sites.parents_on_lines(tree, call_sites.word_lines(TRICKY, ["ones"]))
    assert partial and all(truth[key] is parent for key, parent in partial.items() if key in nodes)


@pytest.mark.parametrize("name", sorted(SEMANTIC_CASES))
def test_the_ast_answer_never_misses_an_export_call_of_the_semantic_model(name):
    source = SEMANTIC_CASES[name]
    tree = ast.parse(source)
    imports = call_sites.imports_of(tree)
    calls, _ = call_sites.calls_on_lines(tree, call_sites.word_lines(source, imports.export_words))
    found = call_sites.may_call_export(calls, imports.targets)
    module = cst.parse_module(source)
    semantic = SemanticModel(module, "example.py", text=source)
    stack: list[cst.CSTNode] = []

    class Calls(cst.CSTVisitor):
        def on_visit(self, node: cst.CSTNode) -> bool:
            stack.append(node)
            return True

        def on_leave(self, node: cst.CSTNode) -> None:
            stack.pop()

        def visit_Call(self, node: cst.Call) -> None:
            exported.append(semantic.is_export_call(node, list(stack)))

    exported: list[bool] = []
    module.visit(Calls())
    assert found or not any(exported)
    expected = name not in {"method of its own", "another package's export", "unbound name", "relative import"}
    assert found is expected


def _project(tmp_path, files: dict[str, str]):
    for name, text in files.items():
        (tmp_path / name).write_text(textwrap.dedent(text))
    return compute_reach(ProjectIndex(str(tmp_path)))


RUNNER = """
import torch


class Runner:
    def export(self, path):  # noqa: EXP101
        return path

    def run(self):
        return self.export("out.pte")
"""


def test_a_file_whose_export_calls_are_not_torchs_is_not_parsed(tmp_path, monkeypatch):
    reach = _project(tmp_path, {"runner.py": RUNNER})
    path = os.path.realpath(tmp_path / "runner.py")
    assert [digest for free, digest in reach.export_free if free == path]
    parsed: list[str] = []
    real_parse = engine.parse
    monkeypatch.setattr(engine, "parse", lambda text, name, *more: parsed.append(name) or real_parse(text, name, *more))
    settings = Settings(select=("ALL",), reach=reach)
    text = textwrap.dedent(RUNNER)
    unparsed = lint_text(text, path, settings)
    assert [d.code for d in unparsed] == ["EXP900"] and parsed == []
    monkeypatch.setattr(engine, "_nothing_to_walk", lambda *args: False)
    assert lint_text(text, path, settings) == unparsed and parsed == [path]


def test_the_index_answer_holds_only_for_the_text_it_read(tmp_path, monkeypatch):
    reach = _project(tmp_path, {"runner.py": RUNNER})
    path = os.path.realpath(tmp_path / "runner.py")
    parsed: list[str] = []
    real_parse = engine.parse
    monkeypatch.setattr(engine, "parse", lambda text, name, *more: parsed.append(name) or real_parse(text, name, *more))
    edited = textwrap.dedent(RUNNER) + "\nprogram = torch.export.export(Runner(), ())\n"
    lint_text(edited, path, Settings(reach=reach))
    assert parsed == [path]  # the file changed since the index read it


def test_a_renamed_export_entry_point_is_still_parsed_and_reported(tmp_path):
    source = """
        import torch
        from torch.export import export as capture

        from model import Net


        def build():
            return capture(Net(), (torch.ones(2, 3),), constraints=[])
    """
    reach = _project(tmp_path, {"build.py": source})
    path = os.path.realpath(tmp_path / "build.py")
    assert not [free for free, _ in reach.export_free if free == path]
    found = lint_text(textwrap.dedent(source), path, Settings(select=("ALL",), reach=reach))
    assert "EXP005" in {d.code for d in found}  # at the call, whose line says no ``export``
    assert found == lint_text(textwrap.dedent(source), path, Settings(select=("ALL",)))


def test_unused_noqa_is_judged_whatever_the_case_of_the_code():
    source = "import torch\n\nwidth = torch.ones(3)  # noqa: exp001\n"
    assert [d.code for d in lint_text(source, "example.py", Settings())] == ["EXP900"]
    quiet = "import torch\n\nwidth = torch.ones(3)  # noqa: E501, F401 export\n"
    assert lint_text(quiet, "example.py", Settings()) == []
