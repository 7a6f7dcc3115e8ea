"""Each rule's claim against the installed torch: its INVALID examples fail for real, fixes export."""

from __future__ import annotations

import pytest

from export_lint.rules import all_rules
from export_lint.verify.proofs import prove_example

pytest.importorskip("torch")

EXAMPLES = [
    pytest.param(rule, index, example, id=f"{rule.code}-{'INVALID' if hasattr(example, 'after') else 'VALID'}{index}")
    for rule in all_rules()
    for examples in (rule.INVALID, rule.VALID)
    for index, example in enumerate(examples)
    if example.proves
]


@pytest.mark.slow
@pytest.mark.parametrize(("rule", "index", "example"), EXAMPLES)
def test_example_behaves_as_the_rule_claims(rule, index, example):
    for proof in prove_example(rule, index, example):
        assert proof.holds, (
            f"{proof.code} {proof.example}: claimed {proof.claim}, got {proof.outcome.error or 'no error'}"
        )


def test_every_rule_proves_at_least_one_invalid_example():
    for rule in all_rules():
        if rule.code.startswith("EXP9"):
            continue  # EXP9xx rules check export-lint's own comments: there is no torch claim to prove
        assert any(example.proves for example in rule.INVALID), rule.code
