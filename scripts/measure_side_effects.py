"""Measure how torch.export treats mutation, Python side effects, train/eval, device and old APIs.

Each construct is exported strict and non-strict with the installed torch; the table records
whether export raised (exception type and first line), whether the exported module computes what
eager computes over two calls (outputs and any writes to the caller's inputs), and whether
``ep.run_decompositions()`` accepts the program. Rules in rules/exp00[4-9], exp20[3-9], exp4xx and
exp5xx cite these outcomes.

    python scripts/measure_side_effects.py [--only NAME ...] [--json out.json]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import logging
import os
import random
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

logging.basicConfig(level=logging.CRITICAL)
warnings.filterwarnings("ignore")


def first_line(error: BaseException) -> str:
    text = traceback.format_exception_only(type(error), error)[-1].strip()
    line = text.splitlines()[0] if text else type(error).__name__
    return line[:160]


@dataclasses.dataclass
class Case:
    """A model factory; ``reference`` overrides the eager computation the export is compared with."""

    make: Callable[[], tuple[nn.Module, tuple]]
    reference: Callable[[nn.Module, tuple], object] | None = None
    note: str = ""


CASES: dict[str, Case] = {}


def case(name: str, note: str = "", reference=None):
    def register(make):
        CASES[name] = Case(make, reference, note)
        return make

    return register


# -- (a) mutation ----------------------------------------------------------------------------
class IndexWriteInput(nn.Module):
    def forward(self, x):
        x[:, 0] = 5.0
        return x * 2


class AugAssignInput(nn.Module):
    def forward(self, x):
        x += 1
        return x * 2


class InplaceMethodInput(nn.Module):
    def forward(self, x):
        x.add_(1)
        return x * 2


class CloneThenWrite(nn.Module):
    def forward(self, x):
        x = x.clone()
        x[:, 0] = 5.0
        return x * 2


class PlainTensorAttrMutated(nn.Module):
    def __init__(self):
        super().__init__()
        self.t = torch.zeros(3)

    def forward(self, x):
        self.t.add_(1)
        return x + self.t


class BufferMutated(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("t", torch.zeros(3))

    def forward(self, x):
        self.t.add_(1)
        return x + self.t


class PlainTensorAttrRead(nn.Module):
    def __init__(self):
        super().__init__()
        self.t = torch.ones(3)

    def forward(self, x):
        return x + self.t


class PlainTensorAttrReassigned(nn.Module):
    def __init__(self):
        super().__init__()
        self.t = torch.zeros(3)

    def forward(self, x):
        self.t = self.t + 1
        return x + self.t


class PythonCounter(nn.Module):
    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return x * self.calls


class PythonCacheAttr(nn.Module):
    """Stores a tensor as a plain attribute (a cache for later calls); output does not read it."""

    def forward(self, x):
        self.last = x * 2
        return x + 1


COUNTER = 0
SCALE = 2.0


class GlobalWrite(nn.Module):
    def forward(self, x):
        global COUNTER
        COUNTER += 1
        return x * COUNTER


class GlobalRead(nn.Module):
    def forward(self, x):
        return x * SCALE


def _reset_globals() -> None:
    global COUNTER, SCALE
    COUNTER = 0
    SCALE = 2.0


case("input-index-write")(lambda: (IndexWriteInput(), (torch.randn(2, 3),)))
case("input-augassign")(lambda: (AugAssignInput(), (torch.randn(2, 3),)))
case("input-inplace-method")(lambda: (InplaceMethodInput(), (torch.randn(2, 3),)))
case("input-clone-then-write")(lambda: (CloneThenWrite(), (torch.randn(2, 3),)))
case("plain-tensor-attr-mutated")(lambda: (PlainTensorAttrMutated(), (torch.randn(3),)))
case("buffer-mutated")(lambda: (BufferMutated(), (torch.randn(3),)))
case("plain-tensor-attr-read")(lambda: (PlainTensorAttrRead(), (torch.randn(3),)))
case("plain-tensor-attr-reassigned")(lambda: (PlainTensorAttrReassigned(), (torch.randn(3),)))
case("python-counter")(lambda: (PythonCounter(), (torch.randn(3),)))
case("python-cache-attr")(lambda: (PythonCacheAttr(), (torch.randn(3),)))


@case("global-write")
def _global_write():
    _reset_globals()
    return GlobalWrite(), (torch.randn(3),)


def _global_read():
    _reset_globals()
    return GlobalRead(), (torch.randn(3),)


def _global_read_reference(model, args):
    # The user changes the config after export; eager reads the new value, export baked 2.0.
    global SCALE
    SCALE = 3.0
    return [model(*args), model(*args)]


case("global-read-changed-after-export", reference=_global_read_reference)(_global_read)


# -- (b) Python side effects --------------------------------------------------------------------
class Prints(nn.Module):
    def forward(self, x):
        print("shape", x.shape, x)
        return x + 1


class PrintsFormatted(nn.Module):
    def forward(self, x):
        print(f"{x.sum():.4f}")
        return x + 1


class Logs(nn.Module):
    def forward(self, x):
        logging.getLogger("m").info("x %s", x.shape)
        return x + 1


class WritesFile(nn.Module):
    def forward(self, x):
        with open(os.path.join(tempfile.gettempdir(), "measure_side_effects.log"), "a") as handle:
            handle.write(f"{tuple(x.shape)}\n")
        return x + 1


class NumpyTranspose(nn.Module):
    def forward(self, x):
        return torch.as_tensor(np.transpose(x, (1, 0))) + 1


class NumpyMethod(nn.Module):
    def forward(self, x):
        return torch.from_numpy(x.numpy() * 2)


class NumpyArrayOfTensor(nn.Module):
    def forward(self, x):
        return torch.from_numpy(np.asarray(x) + 1)


class PythonRandom(nn.Module):
    def forward(self, x):
        return x * random.random()


class TorchRandom(nn.Module):
    def forward(self, x):
        return x * torch.rand(())


class NumpyRandom(nn.Module):
    def forward(self, x):
        return x * float(np.random.rand())


class PerfCounter(nn.Module):
    def forward(self, x):
        return x * (time.perf_counter() % 7)


class TimeInForward(nn.Module):
    def forward(self, x):
        return x * (time.time() % 7)


LOGGER = logging.getLogger("measure_side_effects")


class ModuleLoggerInfo(nn.Module):
    def forward(self, x):
        LOGGER.info("x %s", x.shape)
        return x + 1


class ModuleLoggerWarning(nn.Module):
    def forward(self, x):
        LOGGER.warning("deprecated path")
        return x + 1


class RootLoggingInfo(nn.Module):
    def forward(self, x):
        logging.info("x %s", x.shape)
        return x + 1


case("print")(lambda: (Prints(), (torch.randn(3),)))
case("print-format-spec")(lambda: (PrintsFormatted(), (torch.randn(3),)))
case("logging")(lambda: (Logs(), (torch.randn(3),)))
case("logger.info (module-level logger)")(lambda: (ModuleLoggerInfo(), (torch.randn(3),)))
case("logger.warning (module-level logger)")(lambda: (ModuleLoggerWarning(), (torch.randn(3),)))
case("logging.info")(lambda: (RootLoggingInfo(), (torch.randn(3),)))
case("file-write")(lambda: (WritesFile(), (torch.randn(3),)))
case("np.transpose(tensor)")(lambda: (NumpyTranspose(), (torch.randn(2, 3),)))
case("tensor.numpy()")(lambda: (NumpyMethod(), (torch.randn(3),)))
case("np.asarray(tensor)")(lambda: (NumpyArrayOfTensor(), (torch.randn(3),)))
case("python-random")(lambda: (PythonRandom(), (torch.randn(3),)))
case("torch-rand (look-alike)")(lambda: (TorchRandom(), (torch.randn(3),)))
case("time.time")(lambda: (TimeInForward(), (torch.randn(3),)))
case("np.random.rand")(lambda: (NumpyRandom(), (torch.randn(3),)))
case("time.perf_counter")(lambda: (PerfCounter(), (torch.randn(3),)))


# -- (c) train/eval and device ------------------------------------------------------------------
class DropoutNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        return self.drop(self.lin(x))


class BatchNormNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.bn = nn.BatchNorm1d(4)

    def forward(self, x):
        return self.bn(x)


def _eval_reference(model, args):
    model.eval()
    return [model(*args), model(*args)]


case("dropout-train-mode", reference=_eval_reference)(lambda: (DropoutNet(), (torch.randn(8, 4),)))
case("batchnorm-train-mode", reference=_eval_reference)(lambda: (BatchNormNet(), (torch.randn(8, 4) * 3 + 1,)))
case("dropout-eval-mode")(lambda: (DropoutNet().eval(), (torch.randn(8, 4),)))


class CudaMethod(nn.Module):
    def forward(self, x):
        return x.cuda() + 1


class CudaLiteral(nn.Module):
    def forward(self, x):
        return x + torch.ones(x.shape, device="cuda").cpu()


class CudaAvailableBranch(nn.Module):
    def forward(self, x):
        if torch.cuda.is_available():
            return x * 2
        return x + 1


class DeviceFollowsInput(nn.Module):
    def forward(self, x):
        return x + torch.ones(x.shape, device=x.device)


case("x.cuda()")(lambda: (CudaMethod(), (torch.randn(3),)))
case('device="cuda" literal')(lambda: (CudaLiteral(), (torch.randn(3),)))
case("torch.cuda.is_available() branch")(lambda: (CudaAvailableBranch(), (torch.randn(3),)))
case("device=x.device (look-alike)")(lambda: (DeviceFollowsInput(), (torch.randn(3),)))


# -- (e) scripted/traced submodules, hooks, grad modes, autocast ---------------------------------
class Inner(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 3)

    def forward(self, x):
        return self.lin(x).relu()


class WithScripted(nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = torch.jit.script(Inner())

    def forward(self, x):
        return self.inner(x) + 1


class WithTraced(nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = torch.jit.trace(Inner(), (torch.randn(2, 3),))

    def forward(self, x):
        return self.inner(x) + 1


def _hooked():
    model = Inner()
    model.register_forward_hook(lambda module, inputs, output: output * 3)
    model.register_forward_pre_hook(lambda module, inputs: (inputs[0] + 1,))
    return model, (torch.randn(2, 3),)


class NoGradInside(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 3)

    def forward(self, x):
        with torch.no_grad():
            y = self.lin(x)
        return y + 1


class AutocastInside(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 3)

    def forward(self, x):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = self.lin(x)
        return y.float() + 1


@torch.jit.script
def scripted_double(x: torch.Tensor) -> torch.Tensor:
    return x * 2


class CallsScriptedFunction(nn.Module):
    def forward(self, x):
        return scripted_double(x) + 1


class IsScriptingBranch(nn.Module):
    def forward(self, x):
        if torch.jit.is_scripting():
            return x * 2
        return x + 1


class AmpAutocastFloat16(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 3)

    def forward(self, x):
        with torch.amp.autocast("cpu", dtype=torch.float16):
            y = self.lin(x)
        return y.float() + 1


class AutocastDisabled(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 3)

    def forward(self, x):
        with torch.autocast("cpu", enabled=False):
            y = self.lin(x)
        return y + 1


case("torch.jit.script submodule")(lambda: (WithScripted(), (torch.randn(2, 3),)))
case("torch.jit.trace submodule")(lambda: (WithTraced(), (torch.randn(2, 3),)))
case("forward + pre hooks")(_hooked)
case("@torch.jit.script function called")(lambda: (CallsScriptedFunction(), (torch.randn(2, 3),)))
case("torch.jit.is_scripting() branch")(lambda: (IsScriptingBranch(), (torch.randn(2, 3),)))
case("torch.amp.autocast float16 in forward")(lambda: (AmpAutocastFloat16(), (torch.randn(2, 3),)))
case("torch.autocast(enabled=False) in forward")(lambda: (AutocastDisabled(), (torch.randn(2, 3),)))
case("torch.no_grad in forward")(lambda: (NoGradInside(), (torch.randn(2, 3),)))
case("torch.autocast in forward")(lambda: (AutocastInside(), (torch.randn(2, 3),)))


# -- the measurement ---------------------------------------------------------------------------
def _same(a, b) -> bool:
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        return a.shape == b.shape and a.dtype == b.dtype and torch.allclose(a, b, atol=1e-5)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def _clone(args: tuple) -> tuple:
    return tuple(a.clone() if isinstance(a, torch.Tensor) else a for a in args)


def _eager(case_: Case, seed: int) -> tuple[object, tuple]:
    torch.manual_seed(seed)
    random.seed(seed)
    model, args = case_.make()
    torch.manual_seed(seed + 1)
    random.seed(seed + 1)
    inputs = _clone(args)
    reference = case_.reference or (lambda model, inputs: [model(*inputs), model(*inputs)])
    outputs = reference(model, inputs)
    return outputs, inputs


def measure(name: str, strict: bool, seed: int = 0) -> dict[str, str]:
    case_ = CASES[name]
    sink = io.StringIO()
    row = {"construct": name, "mode": "strict" if strict else "non-strict"}
    try:
        with contextlib.redirect_stdout(sink):
            torch.manual_seed(seed)
            random.seed(seed)
            model, args = case_.make()
            start = time.perf_counter()
            ep = torch.export.export(model, _clone(args), strict=strict)
            row["seconds"] = f"{time.perf_counter() - start:.1f}"
    except Exception as error:
        row["export"] = f"{type(error).__name__}: {first_line(error)}"
        return row
    row["export"] = "exports"
    try:
        with contextlib.redirect_stdout(sink):
            reference, eager_inputs = _eager(case_, seed)
            torch.manual_seed(seed + 1)
            random.seed(seed + 1)
            if case_.reference is _global_read_reference:
                global SCALE
                SCALE = 3.0
            inputs = _clone(args)
            module = ep.module()
            exported = [module(*inputs), module(*inputs)]
        same_out = _same(reference, exported)
        same_inputs = _same(list(eager_inputs), list(inputs))
        args_changed = not _same(list(inputs), list(args))
        if same_out and same_inputs:
            row["vs eager"] = "same" + (" (caller's input mutated, as in eager)" if args_changed else "")
        else:
            parts = []
            if not same_out:
                parts.append("outputs differ")
            if not same_inputs:
                parts.append("caller's input differs")
            row["vs eager"] = "DIVERGES: " + ", ".join(parts)
    except Exception as error:
        row["vs eager"] = f"run fails: {type(error).__name__}: {first_line(error)}"
    try:
        ep.run_decompositions()
        row["run_decompositions"] = "ok"
    except Exception as error:
        row["run_decompositions"] = f"{type(error).__name__}: {first_line(error)}"
    return row


# -- (d) removed / deprecated APIs -----------------------------------------------------------------
API_PROBES: dict[str, str] = {
    "torch._export.capture_pre_autograd_graph": (
        "from torch._export import capture_pre_autograd_graph\n"
        "capture_pre_autograd_graph(torch.nn.Linear(2, 2), (torch.randn(1, 2),))"
    ),
    "torch._export.capture_pre_autograd_graph (attribute)": (
        "import torch._export\ntorch._export.capture_pre_autograd_graph(torch.nn.Linear(2, 2), (torch.randn(1, 2),))"
    ),
    "torch.export.dynamic_dim": ("from torch.export import dynamic_dim\nx = torch.randn(3, 2)\ndynamic_dim(x, 0)"),
    "torch.export.dynamic_dim (attribute)": "torch.export.dynamic_dim(torch.randn(3, 2), 0)",
    "export(..., constraints=[])": ("torch.export.export(torch.nn.Linear(2, 2), (torch.randn(3, 2),), constraints=[])"),
    "torch.export.export_for_training": (
        "torch.export.export_for_training(torch.nn.Linear(2, 2), (torch.randn(3, 2),))"
    ),
    "from torch.export import export_for_training": (
        "from torch.export import export_for_training\nexport_for_training(torch.nn.Linear(2, 2), (torch.randn(3, 2),))"
    ),
    "torch.export.export(...).run_decompositions() (current API)": (
        "torch.export.export(torch.nn.Linear(2, 2), (torch.randn(3, 2),)).run_decompositions()"
    ),
}


def probe_api(name: str) -> dict[str, str]:
    try:
        exec(compile(API_PROBES[name], name, "exec"), {"torch": torch})
    except Exception as error:
        return {"construct": name, "mode": "-", "export": f"{type(error).__name__}: {first_line(error)}"}
    return {"construct": name, "mode": "-", "export": "works"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="construct names (default: all)")
    parser.add_argument("--json", help="write the rows as JSON here")
    options = parser.parse_args(argv)
    rows = []
    print(f"torch {torch.__version__}, python {sys.version.split()[0]}", file=sys.stderr)
    for name in CASES:
        if options.only and name not in options.only:
            continue
        for strict in (True, False):
            row = measure(name, strict)
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    for name in API_PROBES:
        if options.only and name not in options.only:
            continue
        row = probe_api(name)
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    columns = ["construct", "mode", "export", "vs eager", "run_decompositions"]
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(str(row.get(c, "")).replace("|", "\\|") for c in columns) + " |")
    if options.json:
        with open(options.json, "w") as handle:
            json.dump({"torch": torch.__version__, "rows": rows}, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
