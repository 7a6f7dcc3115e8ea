"""Every rule's VALID and INVALID examples, run through the engine and the fixer (Fixit-style)."""

from __future__ import annotations

import pytest

from export_lint.config import Settings
from export_lint.engine import lint_text, parse
from export_lint.fixer import fix_text
from export_lint.rules import all_rules
from export_lint.versions import NEWEST_KNOWN_TORCH

CASES_VALID = [(rule, i, case) for rule in all_rules() for i, case in enumerate(rule.VALID)]
CASES_INVALID = [(rule, i, case) for rule in all_rules() for i, case in enumerate(rule.INVALID)]


def _settings(rule, case) -> Settings:
    # The examples show one class as traced code, exported or not: linted as ``traced = "all-modules"``.
    return Settings(select=(rule.code,), torch_version=case.torch_version or NEWEST_KNOWN_TORCH, traced="all-modules")


def _lint(rule, case):
    return [d for d in lint_text(case.code, "example.py", _settings(rule, case), [rule]) if d.code == rule.code]


@pytest.mark.parametrize(("rule", "index", "case"), CASES_VALID, ids=lambda v: getattr(v, "code", str(v))[:20])
def test_valid_example_is_silent(rule, index, case):
    assert _lint(rule, case) == []


@pytest.mark.parametrize(("rule", "index", "case"), CASES_INVALID, ids=lambda v: getattr(v, "code", str(v))[:20])
def test_invalid_example_is_reported_and_fixed(rule, index, case):
    found = _lint(rule, case)
    assert len(found) == case.count, [d.message for d in found]
    if case.after is None:
        return
    settings = _settings(rule, case)
    fixed = fix_text(case.code, "example.py", settings, unsafe=True, rules=[rule])
    assert fixed.text == case.after
    assert not isinstance(parse(fixed.text, "example.py"), type(found[0]))
    again = fix_text(fixed.text, "example.py", settings, unsafe=True, rules=[rule])
    assert again.text == fixed.text, "fix is not idempotent"
    assert [d for d in fixed.remaining if d.code == rule.code] == []


def test_every_rule_has_examples_and_docs():
    for rule in all_rules():
        assert rule.VALID and rule.INVALID, rule.code
        doc = rule.documentation()
        for section in ("## What it does", "## Why is this bad?", "## Example", "## Use instead", "## Fix safety"):
            assert section in doc, (rule.code, section)
