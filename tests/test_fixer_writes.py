"""Fixes never corrupt a file: atomic writes that keep the file's bytes conventions, no lost edits.

Issue 8: permissions, encoding (coding cookie), BOM, CRLF and a missing final newline are kept; a
failed write leaves the original whole; a file changed between reading and writing is left alone;
overlapping fixes apply one per pass until none remains.
"""

from __future__ import annotations

import os
import stat

import libcst as cst
import pytest

from export_lint import fixer
from export_lint.config import Settings
from export_lint.diagnostics import Applicability, Edit, Fix
from export_lint.fixer import ConcurrentModification, apply_fixes, content_hash, fix_file, fix_text, write_atomic
from export_lint.rule import Rule

HAZARD = "import torch\n\n\ndef f(x):\n    return x\n\n\ntorch.export.export(f, (torch.ones(1),))\n"
EXP001 = Settings(select=("EXP001",))


def variants() -> list:
    latin = "# -*- coding: latin-1 -*-\n# café\n" + HAZARD
    return [
        pytest.param(HAZARD.encode(), id="plain"),
        pytest.param(latin.encode("latin-1"), id="latin-1-cookie"),
        pytest.param(b"\xef\xbb\xbf" + HAZARD.encode(), id="bom"),
        pytest.param(HAZARD.replace("\n", "\r\n").encode(), id="crlf"),
        pytest.param(HAZARD.rstrip("\n").encode(), id="no-final-newline"),
    ]


@pytest.mark.parametrize("original", variants())
def test_fix_file_keeps_encoding_bom_line_endings_final_newline_and_permissions(tmp_path, original):
    path = tmp_path / "model.py"
    path.write_bytes(original)
    path.chmod(0o640)
    outcome = fix_file(str(path), EXP001, write=True)
    assert outcome.written and outcome.error is None and outcome.applied == 1
    fixed = path.read_bytes()
    assert fixed != original
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert fixed.startswith(b"\xef\xbb\xbf") == original.startswith(b"\xef\xbb\xbf")
    assert fixed.endswith(b"\n") == original.endswith(b"\n")
    if b"\r\n" in original:
        assert fixed.count(b"\n") == fixed.count(b"\r\n")  # no bare LF slipped in
    if b"latin-1" in original:
        assert "café".encode("latin-1") in fixed
        fixed.decode("latin-1")
    compile(fixed, "model.py", "exec")
    assert fix_file(str(path), EXP001, write=True).applied == 0  # a fixpoint
    assert [p.name for p in tmp_path.iterdir()] == ["model.py"]  # no temporary file left behind


def test_a_file_changed_while_it_was_being_fixed_is_left_alone(tmp_path, monkeypatch):
    path = tmp_path / "model.py"
    path.write_text(HAZARD)
    edited_by_someone_else = HAZARD + "# edited in the editor meanwhile\n"
    original_fix_text = fixer.fix_text

    def racing_fix_text(*args, **kwargs):
        result = original_fix_text(*args, **kwargs)
        path.write_text(edited_by_someone_else)
        return result

    monkeypatch.setattr(fixer, "fix_text", racing_fix_text)
    outcome = fix_file(str(path), EXP001, write=True)
    assert not outcome.written and "changed on disk" in outcome.error
    assert path.read_text() == edited_by_someone_else


def test_write_atomic_refuses_a_stale_hash(tmp_path):
    path = tmp_path / "m.py"
    path.write_text("a = 1\n")
    with pytest.raises(ConcurrentModification):
        write_atomic(str(path), "a = 2\n", "utf-8", expected_hash=content_hash(b"a = 0\n"))
    assert path.read_text() == "a = 1\n"


def test_a_write_that_fails_midway_leaves_the_original_whole(tmp_path, monkeypatch):
    path = tmp_path / "m.py"
    path.write_text("a = 1\n")

    def interrupted(source, destination):
        raise KeyboardInterrupt  # killed between writing the temporary file and renaming it

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(str(path), "a = 2\n" * 1000, "utf-8", expected_hash=content_hash(b"a = 1\n"))
    assert path.read_text() == "a = 1\n"
    assert [p.name for p in tmp_path.iterdir()] == ["m.py"]


def test_text_the_encoding_cannot_hold_is_not_written(tmp_path):
    path = tmp_path / "m.py"
    path.write_bytes(b"# -*- coding: latin-1 -*-\na = 1\n")
    with pytest.raises(UnicodeEncodeError):
        write_atomic(str(path), "# -*- coding: latin-1 -*-\na = '\u4e2d'\n", "latin-1")
    assert path.read_bytes() == b"# -*- coding: latin-1 -*-\na = 1\n"


def test_apply_fixes_takes_the_first_of_two_overlapping_fixes():
    text = "abcdef"
    first = Fix("upper", (Edit(0, 3, "ABC"),))
    overlapping = Fix("other", (Edit(2, 5, "XYZ"),))
    disjoint = Fix("tail", (Edit(5, 6, "F"),))
    assert apply_fixes(text, [overlapping, disjoint, first]) == ("ABCdeF", 2)


class CapitaliseCalls(Rule):
    """Test rule: ``f(...)`` -> ``F(...)`` by rewriting the whole call, so nested calls overlap."""

    code = "EXP991"
    name = "capitalise-calls"
    message = "lower-case call"
    fix_applicability = Applicability.SAFE

    def visit_Call(self, node: cst.Call) -> None:
        if isinstance(node.func, cst.Name) and node.func.value.islower():
            code = self.context.code(node)
            self.report(node, self.fix("capitalise", self.context.replace(node, code[0].upper() + code[1:])))


def test_overlapping_fixes_apply_one_per_pass_until_none_remains():
    settings = Settings(select=("EXP991",))
    bound = "import torch\nfrom m import F, G, H, f, g, h\n"
    result = fix_text(bound + "x = f(g(h(1)))\n", "t.py", settings, rules=[CapitaliseCalls])
    assert result.text == bound + "x = F(G(H(1)))\n"
    assert result.applied == 3 and result.remaining == []
