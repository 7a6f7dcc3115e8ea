"""Run one reference case end to end: lint, real export before the fix, fix, real export after, compare.

Imports torch lazily (inside the functions), so that ``import export_lint.verify.reference`` is cheap.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import importlib.util
import io
import itertools
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from export_lint import versions
from export_lint.verify import numerics
from export_lint.verify.cases import BAKED, FAILS, FAILS_ON_CALL, Case
from export_lint.verify.memory import PeakMemory, cpu_seconds
from export_lint.verify.recorder import ExportCall, first_line, recording_exports

#: progress(case, step, state, detail): state is "start", "ok" or "fail".
Progress = Callable[[str, str, str, str], None]

_module_ids = itertools.count()


@dataclasses.dataclass
class Outcome:
    """What the real torch.export did with one version of a case's code."""

    status: str  # "exports" or "fails"
    stage: str | None = None  # where it failed: "export", "after export" or "before export"
    error: str | None = None  # exception type and first line
    export_seconds: float = 0.0
    output: str = ""  # what the code printed

    def describe(self) -> str:
        if self.status == "exports":
            return "exports"
        where = {"after export": " (when called)", "before export": " (before export)"}.get(self.stage or "", "")
        return f"{self.error}{where}"


@dataclasses.dataclass
class Claim:
    code: str
    claim: str
    holds: bool
    detail: str


@dataclasses.dataclass
class CaseResult:
    """Everything ``export-lint verify`` reports about one case."""

    name: str
    title: str
    torch_version: str
    expected_codes: list[str]
    found_codes: list[str] = dataclasses.field(default_factory=list)
    unregistered_codes: list[str] = dataclasses.field(default_factory=list)
    original: Outcome | None = None
    fixes_applied: int = 0
    fix_diff: str = ""
    remaining_codes: list[str] = dataclasses.field(default_factory=list)
    fixed: Outcome | None = None
    agreement: list[numerics.Agreement] = dataclasses.field(default_factory=list)
    dynamic_dims: list[dict] = dataclasses.field(default_factory=list)
    claims: list[Claim] = dataclasses.field(default_factory=list)
    peak_rss_bytes: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # user + system: comparable on a busy machine, where wall time is not
    problems: list[str] = dataclasses.field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems

    @property
    def export_seconds(self) -> float:
        return sum(o.export_seconds for o in (self.original, self.fixed) if o is not None)

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["passed"] = self.passed
        data["export_seconds"] = round(self.export_seconds, 3)
        data["tolerance"] = {"rtol": numerics.RTOL, "atol": numerics.ATOL}
        return data


def _load_module(path: Path, label: str):
    """Import a file as a new, uniquely named module (never through sys.path, so nothing is shadowed)."""
    spec = importlib.util.spec_from_file_location(f"_export_lint_case_{label}_{next(_module_ids)}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclasses.dataclass
class _Run:
    outcome: Outcome
    calls: list[ExportCall]
    program: Any = None


def _for_the_claimed_reason(error: str, expected: list) -> bool:
    """Whether a failure matches the error of at least one expected failing code (any, if none says)."""
    patterns = [e.error for e in expected if e.claim in (FAILS, FAILS_ON_CALL) and e.error]
    return not patterns or any(re.search(pattern, error) for pattern in patterns)


def _run_entry(path: Path, case: Case, label: str, weights: str | None, device: str) -> _Run:
    """Import the case's code from ``path`` and call its entry function with export calls recorded."""
    import torch

    torch.manual_seed(0)
    printed = io.StringIO()  # what the user code prints stays out of the report on stdout
    with recording_exports() as calls, contextlib.redirect_stdout(printed):
        try:
            module = _load_module(path, label)
            program = getattr(module, case.entry)(weights=weights, device=device)
        except Exception as error:
            seconds = sum(call.seconds for call in calls)
            failed = next((call for call in calls if call.error), None)
            stage = "export" if failed else ("after export" if calls else "before export")
            return _Run(Outcome("fails", stage, first_line(error), seconds, printed.getvalue()), list(calls))
    seconds = sum(call.seconds for call in calls)
    return _Run(Outcome("exports", export_seconds=seconds, output=printed.getvalue()), list(calls), program)


def _exported_call(run: _Run) -> ExportCall | None:
    """The recorded call that produced the program the entry returned (else the last that worked)."""
    for call in run.calls:
        if call.program is not None and call.program is run.program:
            return call
    working = [call for call in run.calls if call.program is not None]
    return working[-1] if working else None


def _check_numerics(result: CaseResult, call: ExportCall, progress: Progress) -> None:
    progress(result.name, "compare", "start", f"eager vs exported, rtol={numerics.RTOL} atol={numerics.ATOL}")
    args, kwargs = numerics.fresh_inputs(call.args, call.kwargs, seed=1)
    agreement = numerics.compare(call.target, call.program, args, kwargs, "fresh inputs at the example shapes")
    result.agreement.append(agreement)
    progress(result.name, "compare", "ok" if agreement.agree else "fail", _agreement_text(agreement))
    if not agreement.agree:
        result.problems.append(f"exported program differs from eager: {_agreement_text(agreement)}")

    try:
        dims = numerics.dynamic_dims(call.program, call.args, call.kwargs)
    except ValueError as error:
        result.problems.append(f"cannot match the program's inputs to the example inputs: {error}")
        return
    for symbol, group in itertools.groupby(sorted(dims, key=lambda d: d.symbol), key=lambda d: d.symbol):
        group = list(group)
        where = ", ".join(f"input {d.input_index} dim {d.dim}" for d in group)
        sizes = numerics.other_sizes(group[0])
        entry = {
            "symbol": symbol,
            "dims": where,
            "example": group[0].example,
            "range": [group[0].low, group[0].high],
            "sizes": sizes,
            "agree": [],
        }
        result.dynamic_dims.append(entry)
        for seed, size in enumerate(sizes, start=2):
            label = f"{where} = {size}"
            progress(result.name, "dynamic", "start", label)
            shapes = numerics.resized_shapes(call.args, call.kwargs, symbol, size, group)
            args, kwargs = numerics.fresh_inputs(call.args, call.kwargs, seed=seed, shapes=shapes)
            agreement = numerics.compare(call.target, call.program, args, kwargs, label)
            result.agreement.append(agreement)
            entry["agree"].append(agreement.agree)
            progress(
                result.name, "dynamic", "ok" if agreement.agree else "fail", f"{label}: {_agreement_text(agreement)}"
            )
            if not agreement.agree:
                result.problems.append(f"dynamic dim {label}: {_agreement_text(agreement)}")
        if len(sizes) < numerics.SIZES_PER_DIM:
            result.problems.append(f"dynamic dim {where} allows fewer than {numerics.SIZES_PER_DIM} other sizes")


def _agreement_text(agreement: numerics.Agreement) -> str:
    if agreement.detail:
        return agreement.detail
    verdict = "match" if agreement.agree else "DIFFER"
    return f"{verdict} (max |diff| {agreement.max_abs_diff:.2e})"


def _probe_baked(call: ExportCall) -> tuple[bool, str]:
    """A non-tensor input was baked in: another value must be rejected, or ignored where eager changes."""
    import torch
    from torch.utils import _pytree

    leaves = [leaf for leaf in _pytree.tree_leaves((call.args, call.kwargs)) if isinstance(leaf, str)]
    if not leaves:
        return True, "no string input: the tokenized text is a graph constant by construction"
    replacement = "two dogs on the grass"

    def swap(leaf):
        return replacement if isinstance(leaf, str) else leaf

    args, kwargs = _pytree.tree_map(swap, (call.args, call.kwargs))
    with torch.no_grad():
        try:
            exported = numerics.tensor_leaves(call.program.module()(*args, **kwargs))
        except Exception as error:
            return True, f"another string is rejected: {first_line(error)}"
        baked = numerics.tensor_leaves(call.program.module()(*call.args, **call.kwargs))
        eager = numerics.tensor_leaves(call.target(*args, **kwargs))
    same_as_baked = len(exported) == len(baked) and all(
        a.shape == b.shape and torch.equal(a, b) for a, b in zip(exported, baked, strict=False)
    )
    eager_changes = any(a.shape != b.shape or not torch.equal(a, b) for a, b in zip(eager, baked, strict=False))
    if same_as_baked and eager_changes:
        return True, "another string is silently ignored: the program returns the baked result"
    return False, "the program follows its string input: nothing was baked"


def run_case_safely(case: Case, **options) -> CaseResult:
    """``run_case``, with a crash of the verification itself reported as the case's problem."""
    try:
        return run_case(case, **options)
    except Exception as error:
        torch_version = versions.installed_torch_version() or versions.NEWEST_KNOWN_TORCH
        result = CaseResult(case.name, case.title, torch_version, [e.code for e in case.expected(torch_version)])
        result.problems.append(f"verification crashed: {first_line(error)} (a bug in export-lint verify)")
        return result


def run_case(
    case: Case,
    *,
    device: str = "cpu",
    weights: str | None = None,
    progress: Progress | None = None,
) -> CaseResult:
    """Verify one case on the installed torch; ``result.problems`` lists every claim that did not hold."""
    from export_lint.config import Settings
    from export_lint.engine import lint_source
    from export_lint.fixer import fix_text, unified_diff
    from export_lint.rules import by_code

    progress = progress or (lambda *_: None)
    torch_version = versions.installed_torch_version() or versions.NEWEST_KNOWN_TORCH
    expected = case.expected(torch_version)
    result = CaseResult(case.name, case.title, torch_version, [e.code for e in expected])
    started, cpu_started = time.perf_counter(), cpu_seconds()
    settings = Settings(torch_version=torch_version, traced="all-modules")  # the case is exported by verify
    source = case.path.read_text(encoding="utf-8")

    with PeakMemory() as peak:
        progress(case.name, "lint", "start", case.path.name)
        result.found_codes = sorted({d.code for d in lint_source(source, str(case.path), settings).diagnostics})
        registered = by_code()
        result.unregistered_codes = [code for code in result.expected_codes if code not in registered]
        missing = [code for code in result.expected_codes if code not in result.found_codes]
        if result.unregistered_codes:
            result.problems.append(
                f"rules not in this export-lint: {', '.join(result.unregistered_codes)} (expected on torch {torch_version})"
            )
        if missing:
            result.problems.append(f"expected codes not reported: {', '.join(missing)}")
        progress(case.name, "lint", "fail" if missing else "ok", ", ".join(result.found_codes) or "no findings")

        progress(case.name, "original", "start", "torch.export on the original code")
        original = _run_entry(case.path, case, "original", weights, device)
        result.original = original.outcome
        problems_before = len(result.problems)
        if original.outcome.stage == "before export":
            result.problems.append(f"the original code failed before reaching torch.export: {original.outcome.error}")
        claims = {e.claim for e in expected}
        should_fail = bool(claims & {FAILS, FAILS_ON_CALL})
        if should_fail != (original.outcome.status == "fails"):
            claimed = "fail" if should_fail else "export"
            result.problems.append(f"claimed the original would {claimed}; it {original.outcome.describe()}")
        elif FAILS_ON_CALL in claims and FAILS not in claims and original.outcome.stage != "after export":
            result.problems.append(f"claimed the original fails when called; it {original.outcome.describe()}")
        elif should_fail and not _for_the_claimed_reason(original.outcome.error or "", expected):
            result.problems.append(
                f"the original fails, but not for the reason the codes give: {original.outcome.error}"
            )
        as_claimed = len(result.problems) == problems_before
        progress(case.name, "original", "ok" if as_claimed else "fail", result.original.describe())
        original = None
        gc.collect()

        progress(case.name, "fix", "start", "export-lint fix --apply --unsafe-fixes")
        fixed_text = fix_text(source, str(case.path), settings, unsafe=True)
        result.fixes_applied = fixed_text.applied
        result.fix_diff = unified_diff(source, fixed_text.text, case.path.name)
        result.remaining_codes = sorted({d.code for d in fixed_text.remaining})
        progress(
            case.name,
            "fix",
            "ok",
            f"{fixed_text.applied} fix(es) applied, remaining: {', '.join(result.remaining_codes) or 'none'}",
        )

        with tempfile.TemporaryDirectory(prefix="export-lint-verify-") as folder:
            fixed_path = Path(folder) / case.path.name
            fixed_path.write_text(fixed_text.text, encoding="utf-8")
            progress(case.name, "fixed", "start", "torch.export on the fixed code")
            fixed = _run_entry(fixed_path, case, "fixed", weights, device)
        result.fixed = fixed.outcome
        progress(case.name, "fixed", "ok" if fixed.outcome.status == "exports" else "fail", fixed.outcome.describe())
        call = _exported_call(fixed)
        if fixed.outcome.status != "exports":
            result.problems.append(f"the fixed code does not export: {fixed.outcome.describe()}")
        elif call is None:
            result.problems.append("the fixed code never called torch.export.export")
        else:
            _check_numerics(result, call, progress)
            for expectation in expected:
                if expectation.claim != BAKED:
                    continue
                progress(case.name, "claim", "start", f"{expectation.code}: call with another input value")
                holds, detail = _probe_baked(call)
                result.claims.append(Claim(expectation.code, expectation.claim, holds, detail))
                progress(case.name, "claim", "ok" if holds else "fail", f"{expectation.code}: {detail}")
                if not holds:
                    result.problems.append(f"{expectation.code} claims a baked input: {detail}")
        fixed = call = None
        gc.collect()
    result.peak_rss_bytes = peak.bytes
    result.seconds = time.perf_counter() - started
    result.cpu_seconds = cpu_seconds() - cpu_started
    return result
