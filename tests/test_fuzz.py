"""Property tests: random valid programs (hypothesmith) and mutated rule examples never crash the
engine, every fix it offers yields code that parses, and results are deterministic (issue 8).

Bounded for CI; run the long version by hand:

    EXPORT_LINT_FUZZ_EXAMPLES=2000 python -m pytest -q tests/test_fuzz.py
"""

from __future__ import annotations

import os
import random

import libcst as cst
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from export_lint.config import Settings
from export_lint.engine import lint_source
from export_lint.fixer import apply_fixes, fix_text
from export_lint.rules import all_rules
from export_lint.runner import lint_files

hypothesmith = pytest.importorskip("hypothesmith")

EXAMPLES = int(os.environ.get("EXPORT_LINT_FUZZ_EXAMPLES", "25"))
ALL = Settings(select=("ALL",))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=EXAMPLES <= 100,  # CI runs the same examples every time; long runs explore
    suppress_health_check=list(HealthCheck),
)
#: Every rule's examples: real-looking code that reaches the rules' interesting paths.
SEEDS = sorted(
    {example.code for rule in all_rules() for example in [*rule.VALID, *rule.INVALID]}
    | {example.after for rule in all_rules() for example in rule.INVALID if example.after}
)


def check_file(source: str) -> None:
    """The properties every file must have, whatever its content."""
    first = lint_source(source, "fuzz.py", ALL)
    internal = [d.message for d in first.diagnostics if d.internal_error]
    assert not internal, internal
    assert lint_source(source, "fuzz.py", ALL).diagnostics == first.diagnostics  # deterministic
    offered = [d for d in first.diagnostics if d.fix is not None and d.fix.edits]
    for diagnostic in offered:
        fixed, _ = apply_fixes(source, [diagnostic.fix])
        try:
            cst.parse_module(fixed)
        except Exception as error:
            raise AssertionError(f"{diagnostic.code}'s fix breaks the code: {error}\n{fixed}") from error
    if offered:
        result = fix_text(source, "fuzz.py", ALL, unsafe=True)
        assert not [d for d in result.remaining if d.internal_error]
        cst.parse_module(result.text)


def mutate(source: str, rng: random.Random) -> str:
    """One small corruption of the kind editors and truncated downloads produce."""
    lines = source.splitlines(keepends=True) or [""]
    kind = rng.randrange(6)
    at = rng.randrange(len(lines))
    if kind == 0:
        del lines[at]
    elif kind == 1:
        lines.insert(at, lines[rng.randrange(len(lines))])
    elif kind == 2:
        lines[at] = "    " + lines[at]
    elif kind == 3:
        return source[: rng.randrange(len(source) + 1)]
    elif kind == 4:
        position = rng.randrange(len(source) + 1)
        return (
            source[:position]
            + rng.choice(["(", ")", ":", "\\", '"', "'''", "\t", "lambda", "\x0c"])
            + source[position:]
        )
    else:
        other = rng.choice(SEEDS).splitlines(keepends=True)
        lines[at:at] = other[: rng.randrange(len(other) + 1)]
    return "".join(lines)


@FUZZ
@given(program=hypothesmith.from_grammar())
def test_random_valid_programs(program):
    check_file("import torch\n" + program)


@FUZZ
@given(seed=st.sampled_from(SEEDS), noise=st.randoms(use_true_random=False), rounds=st.integers(1, 3))
def test_mutated_rule_examples(seed, noise, rounds):
    source = seed
    for _ in range(rounds):
        source = mutate(source, noise)
    check_file(source)


def test_results_are_the_same_with_one_worker_and_with_a_pool(tmp_path):
    rng = random.Random(8)
    for index in range(40):
        source = SEEDS[index % len(SEEDS)]
        if index % 3:
            source = mutate(source, rng)
        (tmp_path / f"m{index:02}.py").write_text(source)
    paths = sorted(str(path) for path in tmp_path.iterdir())
    serial = lint_files(paths, ALL, jobs=1)
    parallel = lint_files(paths, ALL, jobs=2)
    assert [(r.path, r.diagnostics) for r in serial] == [(r.path, r.diagnostics) for r in parallel]
    assert any(r.diagnostics for r in serial)
