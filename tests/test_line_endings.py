"""Lines end where Python ends them: ``\\r\\n``, ``\\r`` or ``\\n``, and nothing else (issue 12).

A ``\\r``-only file once came out of ``fix --apply`` as 0 bytes; form feeds, ``\\x1c``-``\\x1e``,
U+0085 and U+2028 inside strings or comments shifted rows (``str.splitlines`` splits on them).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from export_lint.config import Settings
from export_lint.diagnostics import Applicability, Edit, LineIndex
from export_lint.engine import lint_text
from export_lint.fixer import apply_fixes, fix_text, unified_diff
from export_lint.rule import Rule
from export_lint.rules import all_rules
from export_lint.suppression import add_noqa, parse_suppressions
from export_lint.versions import NEWEST_KNOWN_TORCH

ENDINGS = [pytest.param("\r", id="CR"), pytest.param("\r\n", id="CRLF")]
CASES = [(rule, case) for rule in all_rules() for case in rule.INVALID]
#: Characters ``str.splitlines`` treats as line breaks and Python's tokenizer does not.
NOT_LINE_BREAKS = ["\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029", "\x0b"]


@pytest.mark.parametrize("newline", ENDINGS)
def test_every_rules_examples_fix_the_same_with_any_line_ending(newline):
    """Fixing a ``\\r`` or ``\\r\\n`` twin gives the ``\\n`` result with its endings: idempotent, never empty."""
    wrong = []
    for rule, case in CASES:
        settings = Settings(select=(rule.code,), torch_version=case.torch_version or NEWEST_KNOWN_TORCH)
        expected = fix_text(case.code, "example.py", settings, unsafe=True, rules=[rule]).text.replace("\n", newline)
        fixed = fix_text(case.code.replace("\n", newline), "example.py", settings, unsafe=True, rules=[rule])
        again = fix_text(fixed.text, "example.py", settings, unsafe=True, rules=[rule])
        if fixed.text != expected or again.text != fixed.text or not fixed.text.strip():
            wrong.append(rule.code)
        assert not any(d.internal_error for d in fixed.remaining), (rule.code, fixed.remaining)
    assert wrong == []


def test_diagnostics_sit_on_the_same_rows_and_columns_whatever_the_line_ending():
    for rule, case in CASES:
        settings = Settings(select=(rule.code,), torch_version=case.torch_version or NEWEST_KNOWN_TORCH)
        places = {}
        for newline in ("\n", "\r", "\r\n"):
            found = lint_text(case.code.replace("\n", newline), "example.py", settings, [rule])
            places[newline] = [(d.code, d.start, d.end) for d in found]
        assert places["\r"] == places["\n"] == places["\r\n"], rule.code


@pytest.mark.parametrize("odd", ["\x0c", "\u2028"], ids=ascii)
def test_odd_characters_in_a_comment_change_no_position_and_no_fix(odd):
    """Every rule's examples under a comment holding a character ``str.splitlines`` splits on."""
    for rule, case in CASES:
        settings = Settings(select=(rule.code,), torch_version=case.torch_version or NEWEST_KNOWN_TORCH)
        plain, odd_text = "# a_b\n" + case.code, f"# a{odd}b\n" + case.code
        found = [[(d.code, d.start, d.end) for d in lint_text(t, "e.py", settings, [rule])] for t in (plain, odd_text)]
        assert found[0] == found[1], rule.code
        fixed = fix_text(plain, "e.py", settings, unsafe=True, rules=[rule]).text
        assert fix_text(odd_text, "e.py", settings, unsafe=True, rules=[rule]).text == fixed.replace(
            "a_b", f"a{odd}b", 1
        )


#: EXP007's second example with `\r` endings (145 bytes): `fix --apply` once cut it to 0 bytes.
CR_ONLY = (
    b"from torch import nn, randn\rfrom torch.export import export_for_training as capture\r\r"
    b"ep = capture(nn.Linear(3, 3), (randn(2, 3),), strict=False)\r"
)
CR_FIXED = (
    b"from torch import nn, randn\rimport torch\r\r"
    b"ep = torch.export.export(nn.Linear(3, 3), (randn(2, 3),), strict=False)\r"
)


def test_fix_apply_on_a_cr_only_file_rewrites_the_call_and_keeps_the_rest(tmp_path):
    path = tmp_path / "model.py"
    path.write_bytes(CR_ONLY)
    process = subprocess.run(
        [sys.executable, "-m", "export_lint", "fix", "--apply", "--no-cache", str(path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert process.returncode == 0, process.stdout + process.stderr
    assert path.read_bytes() == CR_FIXED


@pytest.mark.parametrize("odd", NOT_LINE_BREAKS, ids=ascii)
def test_characters_splitlines_splits_on_do_not_start_a_row(odd):
    text = f"import torch  # a{odd}b\nx = 'c{odd}d'\ny = torch.cuda.is_available()  # noqa: EXP001\n"
    assert LineIndex(text).location(text.index("y =")).row == 3
    directive = parse_suppressions(text).by_row[3]
    assert text[directive.start : directive.end] == "# noqa: EXP001"
    (unused,) = [d for d in lint_text(text, "t.py", Settings(select=("EXP001", "EXP900"))) if d.code == "EXP900"]
    assert (unused.start.row, unused.start.column) == (3, text.index("# noqa") - text.index("y =") + 1)


@pytest.mark.parametrize("odd", NOT_LINE_BREAKS, ids=ascii)
def test_add_noqa_comments_the_reported_line_past_odd_characters(odd):
    text = f"x = 'a{odd}b'  # c{odd}d\ny = 1\nz = 2\n"
    fixed, count = add_noqa(text, {2: ["EXP001"]})
    assert count == 1
    assert fixed == f"x = 'a{odd}b'  # c{odd}d\ny = 1  # noqa: EXP001\nz = 2\n"


@pytest.mark.parametrize("newline", ["\r", "\r\n", "\n"])
def test_add_noqa_follows_the_files_line_ending(newline):
    text = newline.join(["x = 1", "y = 2", "z = 3", ""])
    fixed, _ = add_noqa(text, {2: ["EXP001"]})
    assert fixed == newline.join(["x = 1", "y = 2  # noqa: EXP001", "z = 3", ""])


def test_a_diff_splits_lines_as_python_does():
    before = "a = 'x\u2028y'\rb = 1\r"
    diff = unified_diff(before, before.replace("b = 1", "b = 2"), "t.py")
    assert diff == "--- a/t.py\n+++ b/t.py\n@@ -1,2 +1,2 @@\n a = 'x\u2028y'\r-b = 1\r+b = 2\r"


class EraseEverything(Rule):
    """Test rule: a 'fix' that deletes the whole module."""

    code = "EXP992"
    name = "erase-everything"
    message = "erases the file"
    fix_applicability = Applicability.SAFE

    def visit_Module(self, node) -> None:
        self.report(node, self.fix("erase", Edit(0, len(self.context.text), "")))


class EditPastTheEnd(Rule):
    """Test rule: an edit whose end lies past the file's last character."""

    code = "EXP993"
    name = "edit-past-the-end"
    message = "edits past the end"
    fix_applicability = Applicability.SAFE

    def visit_Module(self, node) -> None:
        self.report(node, self.fix("append", Edit(0, len(self.context.text) + 5, "import torch\n")))


@pytest.mark.parametrize("rule", [EraseEverything, EditPastTheEnd], ids=lambda rule: rule.code)
def test_a_fix_that_would_empty_the_file_or_edit_outside_it_is_refused(rule):
    text = "import torch\nx = torch.ones(1)\n"
    result = fix_text(text, "t.py", Settings(select=(rule.code,)), rules=[rule])
    assert result.text == text and result.applied == 0
    assert [d.name for d in result.remaining if d.internal_error] == ["internal-error"]


def test_inserted_lines_take_the_files_line_ending_and_nothing_else_changes():
    from export_lint.diagnostics import Fix

    text = "a = 1\rb = 'x\r\ny'\rc = 3\r"
    fixed, count = apply_fixes(text, [Fix("insert", (Edit(6, 6, "import torch\n"),))])
    assert count == 1 and fixed == "a = 1\rimport torch\rb = 'x\r\ny'\rc = 3\r"
