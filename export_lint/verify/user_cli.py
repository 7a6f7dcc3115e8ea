"""The user-target half of ``export-lint verify``: flags, the run, output formats, exit codes, --fix.

Exit codes as for ``check``: 0 every export is clean and matches eager, 1 runtime findings, 2 a
target could not be checked (bad spec, import failure, factory error, timeout, ...) or bad usage.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from export_lint.verify import user_targets
from export_lint.verify.user_targets import EXIT_CLEAN, EXIT_ERROR, EXIT_FINDINGS, Target

OUTPUT_FORMATS = ("full", "concise", "json", "json-lines", "sarif", "github", "junit")


def add_arguments(verify: argparse.ArgumentParser) -> None:
    """The flags of ``verify TARGET...`` and ``verify --script``."""
    verify.add_argument(
        "targets",
        nargs="*",
        metavar="TARGET",
        help="FILE.py:FACTORY or MODULE:FACTORY (the factory returns (model, args[, kwargs]) or a mapping); "
        "with --script, the script's arguments (after --)",
    )
    group = verify.add_argument_group("your own model")
    group.add_argument("--script", metavar="PATH", help="run PATH as python would, checking every export call it makes")
    mode = group.add_mutually_exclusive_group()
    mode.add_argument("--strict", dest="strict", action="store_const", const=True, help="export with strict=True")
    mode.add_argument("--non-strict", dest="strict", action="store_const", const=False, help="export with strict=False")
    group.add_argument(
        "--timeout",
        type=float,
        default=user_targets.DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help="per target (default: 600)",
    )
    group.add_argument("--output-format", choices=OUTPUT_FORMATS, default="full")
    group.add_argument("-o", "--output-file", type=Path, help="write the report to a file")
    group.add_argument("--select", help="codes check uses for the cross-reference (default: the nearest config)")
    group.add_argument("--fix", action="store_true", help="show draft_export's suggested fixes as a diff")
    group.add_argument("--apply", action="store_true", help="with --fix: write them, then re-verify the target")


def wants_user_mode(args: argparse.Namespace) -> bool:
    return bool(args.targets or args.script)


def _targets(args: argparse.Namespace) -> list[Target]:
    if args.script:
        return [Target(f"{args.script}", script=args.script, argv=list(args.targets))]
    return [Target(text, factory=text) for text in dict.fromkeys(args.targets)]


def _progress(args: argparse.Namespace):
    if args.no_progress:
        return None

    def say(text: str) -> None:
        sys.stderr.write(f"export-lint verify: {text}\n")
        sys.stderr.flush()

    return say


def _summary(diagnostics: list, errors: int) -> str:
    if not diagnostics and not errors:
        return "All exports verified: no failures, outputs match eager.\n"
    lines = []
    if diagnostics:
        count = len(diagnostics)
        lines.append(f"Found {count} runtime finding{'s' if count != 1 else ''}.")
        fixable = sum(1 for d in diagnostics if d.fix is not None)
        if fixable:
            lines.append(f"{fixable} with a suggested fix: `export-lint verify --fix` shows it.")
    if errors:
        lines.append(f"{errors} target{'s' if errors != 1 else ''} could not be checked.")
    return "".join(line + "\n" for line in lines)


def _render(args: argparse.Namespace, diagnostics: list, errors: int) -> None:
    from export_lint.report import render

    results = user_targets.file_results(diagnostics)
    text = render(args.output_format, results, color=False)
    if args.output_format in ("full", "concise"):
        text += _summary(diagnostics, errors)
    if args.output_file is not None:
        args.output_file.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


def _show_script_output(run: user_targets.TargetRun) -> None:
    if not run.target.script or not (run.stdout or run.stderr):
        return
    sys.stderr.write(f"--- output of {run.target.script} ---\n{run.stdout}{run.stderr}")
    if not (run.stdout + run.stderr).endswith("\n"):
        sys.stderr.write("\n")
    script = run.data.get("script") or {}
    sys.stderr.write(f"--- end of output (exit status {script.get('exit_code', '?')}) ---\n")


def run_user(args: argparse.Namespace) -> int:
    """``export-lint verify TARGET...`` / ``--script PATH [-- ARGS]``."""
    from export_lint.verify import CASE_NAMES

    if args.rules is not None or args.model != list(CASE_NAMES) or args.weights:
        print("error: targets and --script cannot be combined with --rules, --model or --weights", file=sys.stderr)
        return EXIT_ERROR
    if args.apply and not args.fix:
        print("error: --apply needs --fix", file=sys.stderr)
        return EXIT_ERROR
    select = [code.strip() for code in args.select.split(",") if code.strip()] if args.select else None
    targets = _targets(args)
    started = time.perf_counter()
    runs = user_targets.verify_targets(
        targets, strict=args.strict, timeout=args.timeout, select=select, progress=_progress(args)
    )
    if args.fix:
        from export_lint.verify.apply_fixes import fix_runs

        runs = fix_runs(runs, apply=args.apply, strict=args.strict, timeout=args.timeout, select=select)
    for run in runs:
        _show_script_output(run)
    errors = [run.error for run in runs if run.error]
    for error in errors:
        print(f"error: {error}", file=sys.stderr)
    diagnostics = [d for run in runs for d in user_targets.diagnostics_of(run)]
    _render(args, diagnostics, len(errors))
    for run in runs:
        for note in user_targets.unconfirmed(run):
            print(f"note: {note}", file=sys.stderr)
    if args.json is not None:
        report = user_targets.report_json(runs, time.perf_counter() - started)
        args.json.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    if errors:
        return EXIT_ERROR
    return EXIT_FINDINGS if diagnostics else EXIT_CLEAN
