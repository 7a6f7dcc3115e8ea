"""Prove each rule's claim on the installed torch by executing its examples.

An INVALID example is a runnable script: inside the rule's torch gate it must raise (silent
divergence shows up as the script's own failed ``assert torch.allclose``), and its fixed version
must run cleanly. Outside the gate the original must run cleanly. VALID examples must run cleanly.
"""

from __future__ import annotations

import dataclasses
import time
import traceback
from collections.abc import Callable

from export_lint import versions
from export_lint.rule import Invalid, Rule, Valid


@dataclasses.dataclass
class Outcome:
    """What happened when one script ran."""

    raised: bool
    error: str | None
    seconds: float


@dataclasses.dataclass
class Proof:
    """One claim about one example, and whether the installed torch agrees."""

    code: str
    example: str  # e.g. "INVALID[0]" or "INVALID[0] fixed"
    claim: str  # "fails", "exports"
    outcome: Outcome

    @property
    def holds(self) -> bool:
        return self.outcome.raised == (self.claim == "fails")


def run_script(code: str, name: str = "<export-lint example>") -> Outcome:
    """Execute a script in a fresh namespace; report whether it raised and the first error line."""
    _reset_dynamo()
    start = time.perf_counter()
    namespace = {"__name__": "__export_lint_example__"}
    try:
        exec(compile(code, name, "exec"), namespace)
    except BaseException as error:
        if isinstance(error, KeyboardInterrupt):
            raise
        first = traceback.format_exception_only(type(error), error)[-1].strip().splitlines()[0]
        return Outcome(True, first, time.perf_counter() - start)
    return Outcome(False, None, time.perf_counter() - start)


def _reset_dynamo() -> None:
    """Forget what TorchDynamo compiled for earlier scripts: every script is proven as if alone.

    Without it, torch 2.6 and 2.7 (strict by default) give up on the ninth script exporting the same
    ``torch.nn.Linear`` (``RecompileLimitExceeded: cache_size_limit reached``).
    """
    import sys

    dynamo = sys.modules.get("torch._dynamo")
    if dynamo is not None:
        dynamo.reset()


def installed_torch_affected(rule: type[Rule]) -> bool:
    """Whether the installed torch lies inside the rule's gate."""
    installed = versions.installed_torch_version()
    if installed is None:
        raise RuntimeError("torch is not installed")
    return versions.matches(versions.parse_version(installed), rule.torch_versions)


def runs_here(example: Valid | Invalid) -> bool:
    """Whether the example's scripts can run on the installed torch at all (``requires_torch``)."""
    if not example.requires_torch:
        return True
    installed = versions.installed_torch_version()
    return installed is not None and versions.matches(versions.parse_version(installed), example.requires_torch)


def prove_example(rule: type[Rule], index: int, example: Valid | Invalid) -> list[Proof]:
    """The proofs one example makes on the installed torch (none if it is not runnable here)."""
    if not example.proves or not runs_here(example):
        return []
    label = f"{'INVALID' if isinstance(example, Invalid) else 'VALID'}[{index}]"
    if isinstance(example, Valid):
        return [Proof(rule.code, label, "exports", run_script(example.code, f"<{rule.code} {label}>"))]
    affected = installed_torch_affected(rule)
    proofs = [
        Proof(rule.code, label, "fails" if affected else "exports", run_script(example.code, f"<{rule.code} {label}>"))
    ]
    if affected and example.after is not None:
        fixed = run_script(example.after, f"<{rule.code} {label} fixed>")
        proofs.append(Proof(rule.code, f"{label} fixed", "exports", fixed))
    return proofs


#: progress(rule code, example label, state, detail): state is "start", "ok" or "fail".
Progress = Callable[[str, str, str, str], None]


def prove_rule(rule: type[Rule], progress: Progress | None = None) -> list[Proof]:
    """Every proof a rule's runnable examples make, reporting each example to ``progress``."""
    proofs: list[Proof] = []
    examples = [*(("INVALID", e) for e in rule.INVALID), *(("VALID", e) for e in rule.VALID)]
    counters = {"INVALID": 0, "VALID": 0}
    for kind, example in examples:
        index = counters[kind]
        counters[kind] += 1
        label = f"{kind}[{index}]"
        if progress is not None and example.proves and runs_here(example):
            progress(rule.code, label, "start", "running the example")
        made = prove_example(rule, index, example)
        proofs += made
        if progress is not None and made:
            good = all(proof.holds for proof in made)
            detail = "; ".join(f"{p.example} {p.claim}: {p.outcome.error or 'ran clean'}" for p in made)
            progress(rule.code, label, "ok" if good else "fail", detail)
    return proofs
