"""One model per forked child of a process that imported torch and the model libraries once.

Importing torch, torchvision, timm and transformers costs seconds per process; a fresh interpreter
per model paid it ~900 times. Here the parent imports them once (and never runs a torch op, so no
thread pool exists when it forks) and forks a child per model: the child checks one model with the
verify worker's in-process API (``export_lint.verify.worker.run_request``), writes its JSON result
and exits, so a crash, a hang or a leak dies with it. A child past its timeout is killed with its
process group.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import tempfile
import time
from typing import Any

#: Imported once in the parent, before any fork.
PRELOAD = (
    "torch",
    "torch.export",
    "torch._dynamo",
    "torch.fx.experimental.symbolic_shapes",
    "torchvision",
    "torchvision.models",
    "torchvision.models.detection",
    "timm",
    "transformers",
    "transformers.modeling_utils",
    "export_lint.verify.worker",
    "export_lint.verify.check_export",
    "export_lint.verify.numerics",
    "export_lint.verify.suggestions",
    "export_lint.verify.static_side",
    "benchmarks.corpus_models",
)
_POLL_SECONDS = 0.05
OUTPUT_TAIL = 2000


def preload(modules: tuple[str, ...] = PRELOAD) -> list[str]:
    """Import ``modules`` (those that are installed); returns the ones that failed."""
    missing = []
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:
            missing.append(name)
    return missing


def _child(request: dict[str, Any], result_path: str, log_path: str) -> None:
    code = 1
    try:
        os.setpgid(0, 0)
        log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(log, 1)
        os.dup2(log, 2)
        from export_lint.verify.worker import run_request

        result = run_request(request)
        with open(result_path, "w", encoding="utf-8") as handle:
            json.dump(result, handle, default=str)
        code = 0
    finally:
        os._exit(code)


def _tail(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - OUTPUT_TAIL))
            return handle.read().decode("utf-8", "replace")
    except OSError:
        return ""


def run_forked(request: dict[str, Any], timeout: float) -> tuple[dict[str, Any], float]:
    """(the worker's result, wall seconds) for one request, in a forked child killed after ``timeout``."""
    label = request["label"]
    with tempfile.TemporaryDirectory(prefix="export-lint-corpus-") as folder:
        result_path, log_path = os.path.join(folder, "result.json"), os.path.join(folder, "output.log")
        started = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            _child(request, result_path, log_path)
        deadline = started + timeout
        status = None
        while status is None:
            done, raw = os.waitpid(pid, os.WNOHANG)
            if done:
                status = raw
            elif time.perf_counter() > deadline:
                for kill in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
                    try:
                        kill()
                    except (ProcessLookupError, PermissionError):
                        continue
                os.waitpid(pid, 0)
                wall = time.perf_counter() - started
                return {
                    "target": label,
                    "error": f"{label}: export did not finish within --timeout {timeout:g} s",
                }, wall
            else:
                time.sleep(_POLL_SECONDS)
        wall = time.perf_counter() - started
        if not os.path.exists(result_path):
            tail = "; ".join(_tail(log_path).strip().splitlines()[-3:]) or "no output"
            how = f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else f"exit {os.WEXITSTATUS(status)}"
            return {"target": label, "error": f"{label}: the worker died ({how}): {tail}"}, wall
        with open(result_path, encoding="utf-8") as handle:
            return json.load(handle), wall
