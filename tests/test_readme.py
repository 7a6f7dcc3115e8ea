"""The README's promises: its rules table is the registry, its install and test commands are CI's."""

from __future__ import annotations

import re
from pathlib import Path

from export_lint.rules import all_rules

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_rules_table_lists_every_rule_with_its_torch_gate_and_fix():
    rows = dict(re.findall(r"^\| (EXP\d{3}) \| (.+) \|$", README, flags=re.MULTILINE))
    assert sorted(rows) == sorted(rule.code for rule in all_rules())
    for rule in all_rules():
        name, gate, fix = (cell.strip() for cell in rows[rule.code].split("|"))
        assert name.split(" ")[0] == rule.name
        assert ("preview" in name) == rule.preview
        assert gate == (rule.torch_versions or "all")
        assert fix == (rule.fix_applicability.value if rule.fix_applicability else "-")


def test_no_section_marker_is_left_unfilled():
    assert "<!-- section:" not in README


def test_ci_runs_the_readme_commands():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "pip install -e . && export-lint check examples/" in README
    assert "pip install -e '.[dev]' && python -m pytest -n 2" in README
    assert "pip install --quiet -e '.[dev]'" in ci
    assert "python -m pytest -n 2" in ci
