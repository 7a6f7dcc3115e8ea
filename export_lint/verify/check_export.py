"""Check one export: run it as asked, collect every failure with draft_export, or compare it with eager.

Each failure becomes a finding at its source line (``locate``), with a code (``runtime_codes``)
and, where draft_export's report allows, a suggested fix (``suggestions``). The result is plain
data (``to_json``), because it travels from the worker process to the CLI. Imports torch.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from export_lint.verify import numerics, runtime_codes
from export_lint.verify.line_tracker import LineTracker
from export_lint.verify.locate import Frame, culprit, error_frame, stack_frames
from export_lint.verify.memory import PeakMemory
from export_lint.verify.recorder import first_line
from export_lint.verify.shape_fixes import spec_edits
from export_lint.verify.targets import ExportRequest, TargetError, needs_cuda

#: The real export functions, saved before a script's calls are intercepted (``intercept`` fills it).
REAL: dict[str, Any] = {}


@dataclasses.dataclass
class Finding:
    """One runtime failure at one source line."""

    path: str
    line: int
    column: int
    code: str
    message: str
    category: str
    end_column: int | None = None
    torch_error: str | None = None  # the exception's type and first line, when one was raised here
    fix: dict | None = None  # {"message", "edits"} (see suggestions)

    @property
    def name(self) -> str:
        return runtime_codes.name_of(self.code)


@dataclasses.dataclass
class ExportCheck:
    """Everything verify found about one export call."""

    label: str
    mode: str  # "strict" or "non-strict"
    status: str  # "exports", "fails" or "diverges"
    error: str | None = None
    findings: list[Finding] = dataclasses.field(default_factory=list)
    comparisons: list[numerics.Agreement] = dataclasses.field(default_factory=list)
    dynamic_dims: list[dict] = dataclasses.field(default_factory=list)
    seconds: dict[str, float] = dataclasses.field(default_factory=dict)
    peak_rss_bytes: int = 0
    executed: dict[str, list[int]] = dataclasses.field(default_factory=dict)
    program: Any = dataclasses.field(default=None, repr=False)
    raised: BaseException | None = dataclasses.field(default=None, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "mode": self.mode,
            "status": self.status,
            "error": self.error,
            "findings": [{**dataclasses.asdict(f), "name": f.name} for f in self.findings],
            "comparisons": [dataclasses.asdict(a) for a in self.comparisons],
            "dynamic_dims": self.dynamic_dims,
            "seconds": {key: round(value, 3) for key, value in self.seconds.items()},
            "peak_rss_bytes": self.peak_rss_bytes,
            "executed": self.executed,
        }


def real(name: str):
    """The real torch function ``name`` (``export``, ``draft_export``), never an interceptor."""
    if name not in REAL:
        import torch.export

        REAL[name] = getattr(torch.export, name)
    return REAL[name]


def default_strict() -> bool:
    parameter = inspect.signature(real("export")).parameters.get("strict")
    return bool(parameter.default) if parameter is not None else False


_NOISY = ("torch.export", "torch.fx.experimental", "torch._dynamo", "torch._export", "torch._functorch")


@contextlib.contextmanager
def quiet_torch_logs() -> Iterator[None]:
    """draft_export's banners and symbolic-shapes warnings stay out of the user's output."""
    # Never the structured-trace logger: draft_export collects its failures through it.
    loggers = [
        logger
        for name, logger in list(logging.root.manager.loggerDict.items())
        if name.startswith(_NOISY) and "__trace" not in name and isinstance(logger, logging.Logger)
    ]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


# -- where a failure is --------------------------------------------------------------------
def _source_line(path: str, line: int) -> str:
    import linecache

    return linecache.getline(path, line)


def _indent_column(path: str, line: int) -> int:
    text = _source_line(path, line)
    return len(text) - len(text.lstrip()) + 1 if text.strip() else 1


def forward_frame(model: Any) -> Frame | None:
    """The ``def forward`` line of the model's class (where divergence and whole-model failures go);
    a decorated ``forward`` is unwrapped, so the line is its ``def`` in the file that defines it."""
    function = getattr(type(model), "forward", None) or model
    with contextlib.suppress(ValueError):  # a __wrapped__ cycle
        function = inspect.unwrap(function)
    try:
        path = inspect.getsourcefile(function)
        lines, line = inspect.getsourcelines(function)
    except (OSError, TypeError):
        return None
    # The ``def`` line, past decorators that span several lines (``@auto_docstring(custom_intro="""...""")``).
    decorators = next((i for i, text in enumerate(lines) if text.lstrip().startswith(("def ", "async def "))), 0)
    return Frame(path, line + decorators, "forward") if path else None


def _finding(frame: Frame, code: str, message: str, category: str, torch_error: str | None = None) -> Finding:
    column = frame.column or _indent_column(frame.path, frame.line)
    return Finding(frame.path, frame.line, column, code, message, category, frame.end_column, torch_error)


def from_error(error: BaseException, anchor: Frame | None, forward: Frame | None = None) -> Finding:
    """The finding for an exception torch.export raised (``forward``: where a failure in a
    decorator wrapping the model's forward goes)."""
    error_type = type(error).__name__
    frame = error_frame(error, forward) or anchor or Frame("<unknown>", 1)
    category = runtime_codes.category_of(error_type, str(error))
    code = runtime_codes.code_for(category, _source_line(frame.path, frame.line), error_type, str(error))
    if code == "EXP001" and anchor is not None:
        frame = anchor
    text = first_line(error)
    finding = _finding(frame, code, f"torch.export failed: {short_error(text)}", category, torch_error=text)
    finding.fix = spec_edits(frame.path, str(error))  # torch's suggested dynamic_shapes, where it has one
    return finding


def short_error(text: str, limit: int = 200) -> str:
    """``Type: message`` without the type's module path, cut at ``limit`` characters."""
    head, sep, rest = text.partition(": ")
    text = f"{head.rsplit('.', 1)[-1]}{sep}{rest}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _filenames(report) -> dict:
    names = dict(getattr(report, "str_to_filename", {}) or {})
    with contextlib.suppress(ImportError):
        from torch._logging import structured

        names.update({index: name for name, index in structured.INTERN_TABLE.items()})
    return names


def from_draft(report, anchor: Frame | None, forward: Frame | None = None) -> list[Finding]:
    """One finding per failure in draft_export's report."""
    from export_lint.verify.suggestions import check_insertion

    filenames = _filenames(report)
    found = []
    for failure in report.failures:
        kind = str(failure.failure_type)
        data = failure.data
        stack = stack_frames(data.get("user_stack") or [], filenames)
        frame = culprit(stack, forward) or anchor or Frame("<unknown>", 1)
        line = _source_line(frame.path, frame.line)
        if kind == "DATA_DEPENDENT_ERROR":
            category = runtime_codes.DATA_DEPENDENT
            message = (
                f"data-dependent expression `{data.get('expr')}` cannot be decided while tracing "
                f"(draft_export assumed {data.get('result')})"
            )
        elif kind == "GUARD_ADDED":
            category = runtime_codes.SPECIALIZED
            message = (
                f"guard `{data.get('expr')}` specializes a dim declared dynamic; draft_export suggests "
                f"dynamic_shapes={data.get('new_dynamic_shapes')}"
            )
        else:
            category = runtime_codes.FAKE_KERNEL
            message = f"torch.ops.{data.get('op')}: {kind.lower().replace('_', ' ')}"
            if data.get("reason"):
                message += f" ({data['reason']})"
        code = runtime_codes.code_for(category, line)
        finding = _finding(frame, code, message, category)
        if kind == "DATA_DEPENDENT_ERROR":
            finding.fix = check_insertion(frame.path, frame.line, data)
        found.append(finding)
    return found


def _merge(first: Finding, drafted: list[Finding]) -> list[Finding]:
    """draft_export's findings, the exception's text on the one at its line; the exception alone if none."""
    for finding in drafted:
        if (finding.path, finding.line) == (first.path, first.line):
            finding.torch_error = first.torch_error
            finding.message = f"{finding.message}: {short_error(first.torch_error or '')}"
            return drafted
    return [first, *drafted]


def _unique(findings: list[Finding]) -> list[Finding]:
    seen: dict[tuple, Finding] = {}
    for finding in findings:
        seen.setdefault((finding.path, finding.line, finding.code), finding)
    return list(seen.values())


# -- comparing with eager -----------------------------------------------------------------
def _trains_differently(model: Any) -> bool:
    """In training mode with a submodule that behaves differently there (dropout, batch norm)."""
    if not getattr(model, "training", False) or not hasattr(model, "modules"):
        return False
    return any("Dropout" in type(m).__name__ or "BatchNorm" in type(m).__name__ for m in model.modules())


def _compare(check: ExportCheck, request: ExportRequest, anchor: Frame | None) -> None:
    program = check.program
    args, kwargs = request.args, request.kwargs
    fresh_args, fresh_kwargs = numerics.fresh_inputs(args, kwargs, seed=0)
    check.comparisons.append(
        numerics.compare(request.model, program, fresh_args, fresh_kwargs, "fresh inputs at the example shapes")
    )
    try:
        dims = numerics.dynamic_dims(program, args, kwargs)
    except ValueError:
        dims = []
    check.dynamic_dims = [dataclasses.asdict(dim) for dim in dims]
    seed = 1
    for symbol in dict.fromkeys(dim.symbol for dim in dims):
        first = next(dim for dim in dims if dim.symbol == symbol)
        for size in numerics.other_sizes(first):
            shapes = numerics.resized_shapes(args, kwargs, symbol, size, dims)
            resized = numerics.fresh_inputs(args, kwargs, seed=seed, shapes=shapes)
            seed += 1
            label = f"{symbol} (input {first.input_index} dim {first.dim}) = {size}"
            check.comparisons.append(numerics.compare(request.model, program, *resized, label))
    frame = forward_frame(request.model) or anchor or Frame("<unknown>", 1)
    for agreement in check.comparisons:
        if agreement.agree:
            continue
        if agreement.detail:
            code, text = "EXP603", f"the exported program (or eager) fails on {agreement.inputs}: {agreement.detail}"
        else:
            training = _trains_differently(request.model)
            code = "EXP501" if training else "EXP602"
            text = (
                f"the exported program differs from eager on {agreement.inputs}: max |diff| "
                f"{agreement.max_abs_diff:.2e} (rtol {numerics.RTOL}, atol {numerics.ATOL})"
                + ("; the model was exported in training mode" if training else "")
            )
        check.findings.append(_finding(frame, code, text, runtime_codes.OTHER))
    if check.findings:
        check.status = "diverges"


# -- the whole check -------------------------------------------------------------------------
def check_export(
    request: ExportRequest,
    label: str,
    *,
    strict: bool | None = None,
    watch: Mapping[str, set[int]] | None = None,
    anchor: Frame | None = None,
    compare: bool = True,
    every_line_of: Callable[[str], bool] | None = None,
) -> ExportCheck:
    """Run ``request`` through torch.export as asked (``strict`` overrides), then draft_export or eager.
    ``watch`` lines (and every line of the files ``every_line_of`` accepts) are tracked non-strict."""
    forward = forward_frame(request.model)
    anchor = anchor or forward  # a failure with no frame of its own: the model's forward
    mode_strict = strict if strict is not None else request.strict
    if mode_strict is None:
        mode_strict = default_strict()
    options: dict[str, Any] = {"strict": mode_strict}
    if request.dynamic_shapes is not None:
        options["dynamic_shapes"] = request.dynamic_shapes
    check = ExportCheck(label, "strict" if mode_strict else "non-strict", "exports")
    tracker = LineTracker({}) if mode_strict else LineTracker(watch or {}, every_line_of)
    with PeakMemory() as peak, quiet_torch_logs():
        started = time.perf_counter()
        try:
            with tracker:
                check.program = real("export")(request.model, request.args, request.kwargs, **options)
        except Exception as error:
            if needs_cuda(error):
                raise TargetError(f"{label}: needs CUDA, which this host does not have ({first_line(error)})") from None
            check.raised = error
        check.seconds["export"] = time.perf_counter() - started
        if check.raised is not None:
            check.status, check.error = "fails", first_line(check.raised)
            first = from_error(check.raised, anchor, forward)
            started = time.perf_counter()
            try:
                with tracker:
                    draft = real("draft_export")(request.model, request.args, request.kwargs, **options)
                drafted = from_draft(draft._report, anchor, forward)
            except Exception:
                drafted = []
            check.seconds["draft_export"] = time.perf_counter() - started
            check.findings = _unique(_merge(first, drafted))
        elif compare:
            started = time.perf_counter()
            _compare(check, request, anchor)
            check.seconds["compare"] = time.perf_counter() - started
    check.peak_rss_bytes = peak.bytes
    failed_lines = {(f.path, f.line) for f in check.findings}
    check.executed = {
        path: sorted(line for line in lines if (path, line) not in failed_lines)
        for path, lines in tracker.executed.items()
    }
    return check
