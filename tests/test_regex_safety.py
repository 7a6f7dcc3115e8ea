"""No regex on user text can hang a run (issue 12): the 5-line file with a 40-``#`` comment,
every regex export-lint applies to user text fuzzed with hostile repetition under a time bound,
and an audit that makes a new regex fail here until it is reviewed and fuzzed.

Bounded for CI; run the long version by hand:

    EXPORT_LINT_FUZZ_EXAMPLES=2000 python -m pytest -q tests/test_regex_safety.py
"""

from __future__ import annotations

import ast
import importlib
import os
import pkgutil
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import export_lint
from export_lint import config
from export_lint.analysis.call_scan import name_then_paren
from export_lint.config import Settings
from export_lint.engine import lint_source

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = int(os.environ.get("EXPORT_LINT_FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=EXAMPLES <= 100,
    suppress_health_check=list(HealthCheck),
)
#: Seconds one match may take on a hostile text of up to ~20,000 characters (linear regexes take
#: well under a millisecond; the exponential one took 3.7 s at 26 ``#`` and hours at 40).
BOUND = 0.5
#: The issue's file: section-separator comments like this one are everywhere.
SEPARATOR_FILE = "import torch\nimport numpy as np\n\n" + "#" * 40 + "\nx = np.zeros(3)\n"

#: Pieces that make regexes backtrack: runs of comment marks, blanks, continuations, brackets,
#: and the words and codes the patterns look for.
PIECES = ["#", " ", "\t", "\\", "\\\n", "\n", "\r", "\r\n", "(", ")", "[", "]", "{", "}", ":", ",", "."]
PIECES += ["a", "_", "1", "v", "noqa", "NOQA", "EXP", "EXP1", "export", "export-lint", "torch", "<=", "*", "/"]
hostile = st.lists(st.tuples(st.sampled_from(PIECES), st.integers(1, 4000)), min_size=1, max_size=5).map(
    lambda runs: "".join(piece * count for piece, count in runs)[:20_000]
)


def timed(function, *args) -> float:
    start = time.perf_counter()
    function(*args)
    return time.perf_counter() - start


# -- the regression: the file finishes in well under a second ------------------------------


def test_a_long_comment_separator_does_not_hang_check(tmp_path):
    """Failed before the fix: `check` on this file ran for hours (time doubled with each `#`)."""
    (tmp_path / "separator.py").write_text(SEPARATOR_FILE)
    command = [sys.executable, "-m", "export_lint", "check", "--no-cache", "separator.py"]
    try:
        done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("check hangs on a comment of 40 `#`")
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("marks", [40, 1000, 100_000])
def test_a_run_of_comment_marks_after_an_export_name_is_linear(marks):
    text = "from torch.export import export as ex\nex\n" + "#" * marks + "\n"
    assert timed(name_then_paren, text, {"export", "ex"}) < BOUND
    assert name_then_paren(text + "(m, ())\n", {"ex"})


def test_names_and_comments_alternating_on_one_line_is_linear():
    """A gap is skipped once: each name inside a long comment does not rescan the rest of it."""
    # 800,000 characters: linear takes ~0.1 s idle; quadratic would take hours. The bound is wide
    # because the test shares CI's two cores with the other workers.
    assert timed(name_then_paren, "export #" * 100_000 + "\n", {"export"}) < 10 * BOUND
    assert timed(name_then_paren, "export \\\n" * 100_000, {"export"}) < 10 * BOUND


# -- what the scan finds ---------------------------------------------------------------------------

#: The original regex, kept as the oracle on short texts, where its backtracking is cheap.
_ORIGINAL_GAP = r"(?:\s|\\\r?\n|#[^\r\n]*)*\("


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("export(m, ())", True),
        ("torch.export.export  (m, ())", True),
        ("export \\\n  (m, ())", True),
        ("export \\\r\n  (m, ())", True),
        ("export \\\r  (m, ())", True),  # a lone \r ends a line in Python
        ("f(export  # why\n  # more\n  (m, ()))", True),
        ("export_for_training(m, ())", True),
        ("export = 1\nexported(m)", False),
        ("reexport(m)", False),
        ("export  # (\n", False),
        ("export\n#" + "#" * 50, False),
    ],
)
def test_an_export_name_followed_by_a_paren(text, expected):
    assert name_then_paren(text, {"export", "export_for_training"}) is expected


@FUZZ
@given(st.lists(st.sampled_from(["export", "ex", " ", "\n", "\r\n", "\\", "#", "(", "x", "\t"]), max_size=12))
def test_the_scan_agrees_with_the_original_regex(parts):
    text = "".join(parts)
    names = {"export", "ex"}
    original = bool(re.search(rf"\b(?:export|ex){_ORIGINAL_GAP}", text))
    # The original missed `\` + lone `\r`; the scan accepts it as Python does (more, never less).
    assert name_then_paren(text, names) is original or (not original and "\\\r" in text)


@FUZZ
@given(hostile)
def test_the_scan_is_fast_on_hostile_text(text):
    assert timed(name_then_paren, text, {"export", "export_for_training", "ex", "a"}) < BOUND


# -- every regex on user text, fuzzed -------------------------------------------------------------


def _modules():
    for info in pkgutil.walk_packages(export_lint.__path__, "export_lint."):
        # verify imports torch (its patterns are our own cases'); __main__ runs the CLI.
        if not info.name.startswith(("export_lint.verify", "export_lint.__main__")):
            try:
                yield importlib.import_module(info.name)
            except ModuleNotFoundError as error:  # an optional extra (the server's pygls) is absent
                if (error.name or "").startswith("export_lint"):
                    raise


def _module_patterns() -> dict[str, re.Pattern[str]]:
    found = {}
    for module in _modules():
        for name, value in vars(module).items():
            if isinstance(value, re.Pattern) and value.pattern and isinstance(value.pattern, str):
                found[f"{module.__name__}.{name}"] = value
    return found


#: Patterns built at run time from user input, fuzzed like the module-level ones.
BUILT = {
    "config._any_glob": config._any_glob(("**/*.py", "*a*a*a*a*a*a*b", "build/", "[!x]*?.py")),
    "versions.parse_version": re.compile(r"^\s*v?([0-9]+(?:\.[0-9]+)*)"),
}
PATTERNS = {**_module_patterns(), **BUILT}
ANCHORED = {"config._any_glob"}


def test_the_audit_sees_the_patterns_that_read_user_text():
    for name in ("suppression._NOQA", "suppression._FILE_NOQA", "versions._SPEC", "call_scan._BLANKS"):
        assert any(key.endswith(name) for key in PATTERNS), name


@pytest.mark.parametrize("name", sorted(PATTERNS))
def test_every_regex_is_fast_on_hostile_text(name):
    pattern = PATTERNS[name]

    @FUZZ
    @given(hostile)
    def check(text):
        # Globs are only ever matched against whole paths (search would be quadratic, and unused).
        methods = (pattern.match,) if name in ANCHORED else (pattern.search, pattern.match, pattern.findall)
        for method in methods:
            elapsed = timed(method, text)
            assert elapsed < BOUND, f"{name}.{method.__name__} took {elapsed:.2f} s on {text[:80]!r}..."

    check()


#: Every regex call in export_lint/ and rules/, by file and pattern source: a new one fails here
#: until someone checks it for ambiguous repetition (nested or adjacent quantifiers that can split
#: the same text two ways) and it is fuzzed above (module level, or in BUILT).
AUDITED = {
    "export_lint/analysis/call_scan.py": {r"(?:\s|\\(?:\r\n|\r(?!\n)|\n))*", "f'\\\\b(?:{alternatives})'"},
    "export_lint/engine.py": {r"[\[\](){}]"},
    # one quantifier per run of characters; the alternatives of _SELF_STORE start differently
    "export_lint/analysis/untraced.py": {
        r"[^\r\n]+",
        r"\w+",
        r"\bself\s*\.\s*(\w+)",
        r"\bself\s*\.\s*(\w+)\s*(?:(?::[^=\n]*|[-+*/%@&|^]|//|\*\*|<<|>>)?=(?!=)|,)|\b(?:as|for)\s+self\s*\.\s*(\w+)",
        r"__\w+__|setUp\w*|tearDown\w*",
    },
    "export_lint/analysis/module_state.py": {r"^[a-z][a-z0-9_]*[a-z0-9]_$"},
    "export_lint/suppression.py": {
        r"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*))?",
        r"#\s*export-lint\s*:\s*noqa(?![\w-])",
        r"(?<![A-Z])[A-Z]+[0-9]+",
    },
    "export_lint/versions.py": {r"^\s*(<=|>=|==|!=|<|>)\s*([0-9]+(?:\.[0-9]+)*)\s*$", r"^\s*v?([0-9]+(?:\.[0-9]+)*)"},
    "export_lint/source.py": {r"\r\n?|\n", r"\r(?!\n)"},
    "rules/exp900_unused_noqa.py": {r"^EXP[0-9]+$"},
    # pyproject/requirements text: each blank run is matched by one quantifier only.
    "export_lint/config.py": {
        "'|'.join((f'(?:{part})' for part in translated)) or '(?!)'",  # fnmatch.translate
        r"v?[0-9]+(?:\.[0-9]+)*(?:(?:a|b|rc)[0-9]+)?(?:\.post[0-9]+)?(?:\.dev[0-9]+)?(?:\+[A-Za-z0-9.]+)?",
        r"^[ \t]*[\"']?torch-version[\"']?[ \t]*=[ \t]*([0-9][0-9_.eE+-]*)",
    },
    "export_lint/torch_pins.py": {
        r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\]\s*)?(?P<rest>.*)",
        r"^\s*(?:(===|~=|==|!=|<=|>=|<|>|=)\s*)?([0-9][0-9A-Za-z.*+!-]*)\s*$",
        r"[-_.]+",
        r"^\s*-\s*['\"]?(?P<dep>[^'\"#]+)",
        r"^(pytorch|torch)(?:\s+|(?=[=<>!~]))(.*)$",
        r"^=?[0-9]",
        r"[=\s]",
    },
    # character classes only
    "export_lint/display.py": {r"[\x00-\x1f\x7f-\x9f\u2028\u2029]"},
    "export_lint/report/junit.py": {"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]"},
    # literal markers, and magic assignments whose targets are separated by commas only
    "export_lint/notebook.py": {
        r"^# export-lint-cell: (\d+)$",
        r"^([ \t]*)pass  # export-lint-magic: (\d+)$",
        r"^[ \t]*[\w.\[\]'\"]+(?:,[ \t]*[\w.\[\]'\"]+)*[ \t]*=[ \t]*[!%]",
        r"\{\n( +)\"",
    },
}
_REGEX_FUNCTIONS = {"compile", "search", "match", "fullmatch", "finditer", "findall", "sub", "subn", "split"}


def _regex_calls() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted([*ROOT.glob("export_lint/**/*.py"), *ROOT.glob("rules/*.py")]):
        # verify runs torch on the user's own model and matches torch's messages and single source
        # lines; `check`, `fix` and the server never run its patterns.
        if path.relative_to(ROOT).parts[:2] == ("export_lint", "verify"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in _REGEX_FUNCTIONS
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "re"
                and node.args
            ):
                try:
                    source = ast.literal_eval(node.args[0])
                except ValueError:
                    source = ast.unparse(node.args[0])
                found.setdefault(path.relative_to(ROOT).as_posix(), set()).add(source)
    return found


def test_every_regex_call_was_audited():
    unaudited = {path: sources - AUDITED.get(path, set()) for path, sources in _regex_calls().items()}
    assert not {path: sources for path, sources in unaudited.items() if sources}


def test_the_separator_file_reports_nothing_through_the_engine():
    assert lint_source(SEPARATOR_FILE, "separator.py", Settings(select=("ALL",))).diagnostics == []
