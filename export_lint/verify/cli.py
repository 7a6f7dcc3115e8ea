"""``export-lint verify``: the reference cases, or every rule's examples, through the real torch.export.

Exit codes: 0 every selected case (or rule example) behaves as claimed, 1 one does not, 2 usage
error or a missing optional dependency. torch is imported only once the arguments are valid.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

from export_lint.verify import CASE_NAMES

EXIT_OK, EXIT_MISMATCH, EXIT_USAGE = 0, 1, 2

INSTALL_HINT = "pip install 'export-lint[verify]'"


class UsageError(Exception):
    """Bad arguments or a missing optional dependency: exit 2."""


def add_parser(commands) -> argparse.ArgumentParser:
    """Register the ``verify`` subcommand on the CLI's subparsers."""
    verify = commands.add_parser(
        "verify",
        help="prove the findings and fixes against the real torch.export",
        description="Run your own model (FILE.py:FACTORY, MODULE:FACTORY) or export script (--script) through "
        "the installed torch.export and report every failure at its source line; without targets, run the "
        "reference cases (MViT, Whisper, BLIP, SAM2) or every rule's examples (--rules).",
    )
    verify.add_argument(
        "--model",
        type=_names,
        default=list(CASE_NAMES),
        help=f"comma-separated cases to run (default: all of {','.join(CASE_NAMES)})",
    )
    verify.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where models run (default: cpu)")
    verify.add_argument(
        "--weights",
        action="append",
        default=[],
        metavar="[MODEL=]PATH",
        help="local weights instead of random ones, e.g. mvit=mvit_v1_b.pth (repeatable; "
        "a bare PATH when one model is selected); never downloads",
    )
    verify.add_argument("--json", type=Path, metavar="PATH", help="also write a machine-readable report")
    verify.add_argument(
        "--rules",
        nargs="?",
        const="ALL",
        metavar="CODES",
        help="prove every rule's examples instead (or only CODES, comma-separated)",
    )
    verify.add_argument("--no-progress", action="store_true", help="no live progress on stderr")
    from export_lint.verify.user_cli import add_arguments

    add_arguments(verify)
    return verify


def _names(value: str) -> list[str]:
    return [part.strip().lower() for part in value.split(",") if part.strip()]


# -- checks before any heavy import -------------------------------------------------------
def _require(modules: list[str]) -> None:
    missing = [name for name in dict.fromkeys(modules) if importlib.util.find_spec(name) is None]
    if missing:
        raise UsageError(
            f"export-lint verify needs {', '.join(missing)}, which "
            f"{'is' if len(missing) == 1 else 'are'} not installed. Install with: {INSTALL_HINT}"
        )


def _selected_cases(args: argparse.Namespace) -> list:
    from export_lint.verify.cases import by_name

    known = by_name()
    unknown = [name for name in args.model if name not in known]
    if unknown or not args.model:
        raise UsageError(f"unknown model {', '.join(unknown) or '(none)'}; choose from {', '.join(known)}")
    return [known[name] for name in dict.fromkeys(args.model)]


def _weights(args: argparse.Namespace, cases: list) -> dict[str, str]:
    found: dict[str, str] = {}
    names = [case.name for case in cases]
    for item in args.weights:
        name, sep, path = item.partition("=")
        if not sep:
            if len(names) != 1:
                raise UsageError(f"--weights {item}: say which model, e.g. --weights {names[0]}={item}")
            name, path = names[0], item
        if name not in names:
            raise UsageError(f"--weights {item}: {name!r} is not a selected model ({', '.join(names)})")
        if not Path(path).expanduser().exists():
            raise UsageError(f"--weights {item}: {path} does not exist")
        found[name] = str(Path(path).expanduser())
    return found


def _check_device(device: str) -> None:
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise UsageError("--device cuda: CUDA is not available to the installed torch")


# -- the reference cases ------------------------------------------------------------------
def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _agreement_cell(result) -> str:
    if not result.agreement:
        return "-"
    good = sum(a.agree for a in result.agreement)
    worst = max((a.max_abs_diff or 0.0) for a in result.agreement)
    return f"{good}/{len(result.agreement)} match, max {worst:.1e}"


def render_table(results: list, torch_version: str) -> str:
    """The final table: one row per case, then what did not hold and the version notes."""
    header = (
        "case",
        "codes",
        f"original (torch {torch_version})",
        "fixed",
        "eager vs exported",
        "export s",
        "peak RSS",
        "verdict",
    )
    rows = [header]
    for result in results:
        rows.append(
            (
                result.name,
                ",".join(result.found_codes) or "none",
                _short(result.original.describe() if result.original else "-", 56),
                _short(result.fixed.describe() if result.fixed else "-", 24),
                _agreement_cell(result),
                f"{result.export_seconds:.1f}",
                f"{result.peak_rss_bytes / 2**30:.1f} GiB",
                "ok" if result.passed else "MISMATCH",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths).rstrip())
    for result in results:
        for problem in result.problems:
            lines.append(f"{result.name}: {problem}")
    return "\n".join(lines) + "\n"


def _version_notes(cases: list, torch_version: str) -> list[str]:
    notes = []
    for case in cases:
        for expectation in case.expectations:
            if not expectation.applies(torch_version):
                notes.append(
                    f"{case.name}: {expectation.code} is not expected on torch {torch_version} "
                    f"(its hazard is real on torch {expectation.torch_versions} only); the run shows what this torch does"
                )
    return notes


def run_cases(args: argparse.Namespace) -> int:
    cases = _selected_cases(args)
    weights = _weights(args, cases)
    _require(["torch", *(module for case in cases for module in case.requires)])
    _check_device(args.device)

    from export_lint import __version__, versions
    from export_lint.verify.memory import cpu_seconds, max_rss_bytes
    from export_lint.verify.progress import ProgressPrinter
    from export_lint.verify.reference import run_case_safely

    torch_version = versions.installed_torch_version() or "?"
    printer = ProgressPrinter(live=None if not args.no_progress else False)
    quiet = args.no_progress
    if not quiet:
        printer.message(f"export-lint {__version__} verify: torch {torch_version}, device {args.device}")
    started = time.perf_counter()
    results = []
    try:
        for index, case in enumerate(cases, start=1):
            if not quiet:
                printer.message(f"[{index}/{len(cases)}] {case.name}: {case.title}")
            results.append(
                run_case_safely(
                    case,
                    device=args.device,
                    weights=weights.get(case.name),
                    progress=(lambda *_: None) if quiet else printer,
                )
            )
    finally:
        printer.close()
    seconds = time.perf_counter() - started
    passed = all(result.passed for result in results)
    sys.stdout.write("\n" + render_table(results, torch_version))
    for note in _version_notes(cases, torch_version):
        sys.stdout.write(f"note: {note}\n")
    peak = max_rss_bytes()
    verdict = "every case behaves as claimed" if passed else "some claims do not hold"
    sys.stdout.write(f"{len(results)} case(s) in {seconds:.0f}s, peak memory {peak / 2**30:.1f} GiB: {verdict}.\n")
    if args.json is not None:
        report = {
            "export_lint": __version__,
            "torch": torch_version,
            "device": args.device,
            "passed": passed,
            "seconds": round(seconds, 3),
            "peak_rss_bytes": peak,
            "cpu_seconds": round(cpu_seconds(), 3),
            "cases": [result.to_json() for result in results],
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return EXIT_OK if passed else EXIT_MISMATCH


# -- the rules' examples ------------------------------------------------------------------
def run_rules(args: argparse.Namespace) -> int:
    from export_lint.rules import all_rules

    rules = list(all_rules())
    if args.rules.upper() != "ALL":
        wanted = {code.strip().upper() for code in args.rules.split(",") if code.strip()}
        unknown = wanted - {rule.code for rule in rules}
        if unknown:
            raise UsageError(f"--rules: unknown code {', '.join(sorted(unknown))}")
        rules = [rule for rule in rules if rule.code in wanted]
    _require(["torch"])

    from export_lint import __version__, versions
    from export_lint.verify.progress import ProgressPrinter
    from export_lint.verify.proofs import prove_rule

    torch_version = versions.installed_torch_version() or "?"
    printer = ProgressPrinter(live=None if not args.no_progress else False)
    started = time.perf_counter()
    report = []
    try:
        for rule in rules:
            progress = (lambda *_: None) if args.no_progress else printer
            report.append((rule, prove_rule(rule, progress=progress)))
    finally:
        printer.close()
    lines = [f"export-lint {__version__}: rule claims on torch {torch_version}"]
    failed = 0
    for rule, proofs in report:
        gate = rule.torch_versions or "all"
        bad = [proof for proof in proofs if not proof.holds]
        failed += len(bad)
        verdict = "holds" if proofs and not bad else ("no runnable example" if not proofs else "DOES NOT HOLD")
        lines.append(
            f"{rule.code} {rule.name} (torch {gate}): {len(proofs) - len(bad)}/{len(proofs)} proofs, {verdict}"
        )
        for proof in bad:
            got = proof.outcome.error or "no error"
            lines.append(f"    {proof.example}: claimed {proof.claim}, got {got}")
    seconds = time.perf_counter() - started
    lines.append(
        f"{sum(len(p) for _, p in report)} proofs for {len(report)} rule(s) in {seconds:.0f}s: "
        f"{'every claim holds' if not failed else f'{failed} claim(s) do not hold'}."
    )
    sys.stdout.write("\n".join(lines) + "\n")
    if args.json is not None:
        data = {
            "export_lint": __version__,
            "torch": torch_version,
            "passed": not failed,
            "rules": [
                {
                    "code": rule.code,
                    "name": rule.name,
                    "torch_versions": rule.torch_versions,
                    "proofs": [
                        {
                            "example": proof.example,
                            "claim": proof.claim,
                            "holds": proof.holds,
                            "error": proof.outcome.error,
                            "seconds": round(proof.outcome.seconds, 3),
                        }
                        for proof in proofs
                    ],
                }
                for rule, proofs in report
            ],
        }
        args.json.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return EXIT_MISMATCH if failed else EXIT_OK


def run(args: argparse.Namespace) -> int:
    """Entry point of ``export-lint verify``."""
    try:
        from export_lint.verify.user_cli import run_user, wants_user_mode

        if wants_user_mode(args):
            return run_user(args)
        if args.rules is not None:
            return run_rules(args)
        return run_cases(args)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
