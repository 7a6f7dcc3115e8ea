"""Every fix is checked before it is offered or applied (export_lint/fix_checks.py): it compiles
with CPython, binds the names it uses where they run, keeps ruff format's blank lines, and fixes of
several rules on one call do not collide (issue 15)."""

from __future__ import annotations

import shutil
import subprocess

import libcst as cst
import pytest

from export_lint.config import Settings
from export_lint.diagnostics import Applicability
from export_lint.engine import lint_text
from export_lint.fix_checks import baseline, fix_problem
from export_lint.fixer import fix_file, fix_text
from export_lint.rule import Rule
from export_lint.rules import all_rules, by_code

ALL = Settings(select=("ALL",))


class RepeatKeyword(Rule):
    """Test rule: adds `strict=True` to every call, even one that passes it (LibCST parses that)."""

    code = "EXP992"
    name = "repeat-keyword"
    message = "call"
    fix_applicability = Applicability.SAFE

    def visit_Call(self, node: cst.Call) -> None:
        self.report(node, self.fix("add strict", self.context.add_keyword_argument(node, "strict=True")))


class UnboundName(Rule):
    """Test rule: rewrites `x` to `helper(x)`, a name the file may not bind."""

    code = "EXP993"
    name = "unbound-name"
    message = "name"
    fix_applicability = Applicability.SAFE

    def visit_Name(self, node: cst.Name) -> None:
        if node.value == "x":
            self.report(node, self.fix("wrap", self.context.replace(node, "helper(x)")))


def _lint(text: str, rule: type[Rule]):
    return lint_text(text, "t.py", Settings(select=(rule.code,)), [rule])


def test_a_fix_cpython_refuses_is_not_offered_and_the_diagnostic_stays():
    source = "import torch\ntorch.f(1, strict=False)\n"
    (diagnostic,) = _lint(source, RepeatKeyword)
    assert diagnostic.fix is None  # `f(1, strict=False, strict=True)` parses in LibCST, not in CPython
    (offered,) = _lint("import torch\ntorch.f(1)\n", RepeatKeyword)
    assert offered.fix is not None
    result = fix_text(source, "t.py", Settings(select=("EXP992",)), rules=[RepeatKeyword])
    assert (result.text, result.applied, len(result.remaining)) == (source, 0, 1)


def test_a_fix_using_a_name_bound_only_below_is_not_offered():
    below = "import torch\nprint(x)\nfrom helpers import helper\n"
    assert _lint(below, UnboundName)[0].fix is None
    above = "import torch\nfrom helpers import helper\nprint(x)\n"
    assert _lint(above, UnboundName)[0].fix is not None
    # A function body runs when called: a module-level import anywhere binds the name there.
    in_function = "import torch\n\n\ndef f():\n    return x\n\n\nfrom helpers import helper\n"
    assert _lint(in_function, UnboundName)[0].fix is not None


def test_checks_judge_only_what_the_fix_adds():
    original = baseline("import torch\nx = 1\ndef f():\n    return undefined_before\n", "t.py")
    assert fix_problem(original, "import torch\nx = 2\ndef f():\n    return undefined_before\n", "t.py") is None
    assert "blank lines" in fix_problem(
        baseline("import torch\n\n\ndef f():\n    pass\n", "t.py"), "import torch\n\ndef f():\n    pass\n", "t.py"
    )
    assert fix_problem(baseline("x = (\n", "t.py"), "x = 1\n", "t.py").startswith("the file does not compile")


def test_exp005_and_exp101_on_one_call_write_one_dynamic_shapes_keyword():
    (example,) = [e for e in by_code()["EXP005"].INVALID if e.after]
    assert {d.code for d in lint_text(example.code, "e.py", ALL)} >= {"EXP005", "EXP101"}
    result = fix_text(example.code, "e.py", ALL, unsafe=True)
    compile(result.text, "e.py", "exec")
    assert result.text.count("dynamic_shapes=") == 1
    assert result.text == example.after


def test_one_wrapper_class_per_file_reused_by_a_later_fix(tmp_path):
    source = (
        "import torch\n\n\ndef f(x):\n    return x\n\n\ndef g(x):\n    return x\n\n\n"
        "a = torch.export.export(f, (torch.ones(1),))\nb = torch.export.export(g, (torch.ones(1),))\n"
    )
    fixed = fix_text(source, "t.py", ALL).text
    assert fixed.count("class ExportWrapper(") == 1
    assert "export(ExportWrapper(f)" in fixed and "export(ExportWrapper(g)" in fixed
    later = fixed + "c = torch.export.export(f, (torch.ones(2),))\n"
    again = fix_text(later, "t.py", ALL).text
    assert again.count("class ExportWrapper(") == 1 and "c = torch.export.export(ExportWrapper(f)" in again


def test_fix_without_apply_reports_remaining_diagnostics_at_their_rows_on_disk(tmp_path):
    # The EXP001 fix inserts a 20-line class above; the EXP101 hazard below has no fix (size-1 example).
    source = (
        "import torch\n\n\ndef f(x):\n    return x\n\n\n"
        "a = torch.export.export(f, (torch.ones(1),))\n"
        "ep = torch.export.export(torch.nn.Tanh(), (torch.randn(1, 3),))\n"
        "ep.module()(torch.randn(4, 3))\n"
    )
    path = tmp_path / "m.py"
    path.write_text(source)
    on_disk = [(d.code, d.start, d.end) for d in lint_text(source, str(path), ALL) if d.code == "EXP101"]
    outcome = fix_file(str(path), ALL, write=False)
    assert outcome.applied == 1
    assert [(d.code, d.start, d.end) for d in outcome.remaining] == on_disk
    assert outcome.remaining[0].noqa_row == on_disk[0][1].row == 9
    written = fix_file(str(path), ALL, write=True)
    assert written.remaining[0].start.row > 9  # after writing, rows are the fixed file's
    assert written.remaining[0].start == lint_text(path.read_text(), str(path), ALL)[0].start


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff is not installed")
def test_fixed_examples_keep_ruff_format_blank_lines(tmp_path):
    """A formatted file stays formatted after its fix (long lines aside: fixes write one-line keywords)."""
    fixed = {}
    for rule in all_rules():
        for index, example in enumerate(rule.INVALID):
            if example.after:
                path = tmp_path / f"{rule.code}_{index}.py"
                path.write_text(example.code)
                fixed[path] = example.after
    command = ["ruff", "format", "--check", "--isolated", "--line-length", "400"]
    report = subprocess.run([*command, *map(str, fixed)], capture_output=True, text=True).stdout
    formatted = [path for path in fixed if str(path) not in report]  # the examples already formatted
    assert len(formatted) >= 10
    for path in formatted:
        path.write_text(fixed[path])
    result = subprocess.run([*command, "--diff", *map(str, formatted)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def _examples() -> list[str]:
    return sorted(
        {e.code for r in all_rules() for e in [*r.INVALID, *r.VALID]}
        | {e.after for r in all_rules() for e in r.INVALID if e.after}
    )


def _fixed(source: str, codes: tuple[str, ...], rules: dict[str, type[Rule]]) -> str:
    selected = [rules[code] for code in codes]
    result = fix_text(source, "e.py", Settings(select=codes), unsafe=True, rules=selected)
    try:
        compile(result.text, "e.py", "exec")
    except SyntaxError as error:
        raise AssertionError(f"{codes} broke the code: {error}\n{result.text}") from error
    assert not [d for d in result.remaining if d.internal_error], codes
    return result.text


def test_every_pair_of_rules_fixes_every_example_into_code_that_compiles():
    """The combined-fixes run of issue 15 (120 of 7,290 broke): each rule with a fix, alone and with
    every other rule that fires on the example or on its fixed text, applied with --unsafe-fixes on
    every rule example; CPython compiles every result. (A pair where neither rule fires applies
    nothing, so it is not run.)"""
    rules = {rule.code: rule for rule in all_rules()}
    fixing = {code for code, rule in rules.items() if rule.fix_applicability is not None}
    runs = 0
    for source in _examples():
        firing = {d.code for d in lint_text(source, "e.py", ALL) if d.code in rules}
        for first in sorted(firing & fixing):
            alone = _fixed(source, (first,), rules)
            partners = firing | {d.code for d in lint_text(alone, "e.py", ALL) if d.code in rules}
            for second in sorted(partners - {first}):
                _fixed(source, tuple(sorted((first, second))), rules)
                runs += 1
        compile(fix_text(source, "e.py", ALL, unsafe=True).text, "e.py", "exec")
    assert runs >= 9
