"""What ``export-lint verify TARGET`` points at: a factory (``file.py:name`` or ``pkg.mod:name``) or a script.

A factory takes no arguments and returns the export's inputs: ``(model, args)``,
``(model, args, kwargs)`` or a mapping with ``model``, ``args`` and optional ``kwargs``,
``dynamic_shapes`` and ``strict``. Everything a user can get wrong raises ``TargetError`` with a
message that names the target. Parsing a spec imports nothing; loading one imports the user's code.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import itertools
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

_module_ids = itertools.count()
_MAPPING_KEYS = {"model", "args", "kwargs", "dynamic_shapes", "strict"}
_CUDA_MISSING = re.compile(
    r"Torch not compiled with CUDA|no CUDA GPUs are available|Found no NVIDIA driver|"
    r"CUDA driver|cuda.*(?:not available|unavailable)|Attempting to deserialize object on a CUDA device",
    re.IGNORECASE,
)


class TargetError(Exception):
    """The target cannot be checked (bad spec, import error, factory failure, ...): exit 2."""


@dataclasses.dataclass(frozen=True)
class FactorySpec:
    """``file.py:factory`` (``path`` set) or ``pkg.mod:factory`` (``module`` set)."""

    text: str
    callable_name: str
    path: str | None = None
    module: str | None = None


@dataclasses.dataclass
class ExportRequest:
    """One export to check: what torch.export.export is called with."""

    model: Any
    args: tuple
    kwargs: dict
    dynamic_shapes: Any = None
    strict: bool | None = None  # None: torch's default (non-strict on torch >= 2.6)


def parse_spec(text: str) -> FactorySpec:
    """Split ``file.py:factory`` / ``pkg.mod:factory``; no import happens here."""
    location, sep, name = text.rpartition(":")
    if not sep or not location or not name:
        raise TargetError(f"{text}: expected FILE.py:FACTORY or MODULE:FACTORY")
    if not name.replace(".", "_").isidentifier():
        raise TargetError(f"{text}: {name!r} is not a Python name")
    if location.endswith(".py") or "/" in location or "\\" in location:
        return FactorySpec(text, name, path=location)
    if not all(part.isidentifier() for part in location.split(".")):
        raise TargetError(f"{text}: {location!r} is neither a .py file nor a module name")
    return FactorySpec(text, name, module=location)


def needs_cuda(error: BaseException) -> bool:
    """Whether an error says the code needs a CUDA device this host does not have."""
    return bool(_CUDA_MISSING.search(str(error))) and not _cuda_available()


def _cuda_available() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except Exception:
        return False


def _describe(error: BaseException) -> str:
    from export_lint.verify.recorder import first_line

    return first_line(error)


def _import_file(spec: FactorySpec):
    path = Path(spec.path).expanduser()
    if not path.is_file():
        raise TargetError(f"{spec.text}: {spec.path} does not exist")
    folder = str(path.resolve().parent)
    if folder not in sys.path:  # the file's own imports of its siblings work, as under `python file.py`
        sys.path.insert(0, folder)
    module_spec = importlib.util.spec_from_file_location(f"_export_lint_target_{next(_module_ids)}", path)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_spec.name] = module  # dataclasses and pickling look their module up
    module_spec.loader.exec_module(module)
    return module


def load_factory(spec: FactorySpec):
    """Import the target's module and return its callable."""
    try:
        if spec.path is not None:
            module = _import_file(spec)
        else:
            if "" not in sys.path and str(Path.cwd()) not in sys.path:
                sys.path.insert(0, str(Path.cwd()))
            module = importlib.import_module(spec.module)
    except TargetError:
        raise
    except BaseException as error:
        if isinstance(error, KeyboardInterrupt):
            raise
        if needs_cuda(error):
            raise TargetError(f"{spec.text}: needs CUDA, which this host does not have ({_describe(error)})") from None
        raise TargetError(f"{spec.text}: cannot import {spec.path or spec.module}: {_describe(error)}") from None
    found = module
    for part in spec.callable_name.split("."):
        found = getattr(found, part, None)
        if found is None:
            where = spec.path or spec.module
            raise TargetError(f"{spec.text}: {where} has no callable {spec.callable_name!r}")
    if not callable(found):
        raise TargetError(f"{spec.text}: {spec.callable_name} is a {type(found).__name__}, not a callable")
    return found


def call_factory(spec: FactorySpec, factory) -> ExportRequest:
    """Call the factory and check the shape of what it returns."""
    try:
        value = factory()
    except BaseException as error:
        if isinstance(error, KeyboardInterrupt):
            raise
        if needs_cuda(error):
            raise TargetError(f"{spec.text}: needs CUDA, which this host does not have ({_describe(error)})") from None
        raise TargetError(f"{spec.text}: the factory raised {_describe(error)}") from None
    return as_request(spec.text, value)


def as_request(label: str, value: Any) -> ExportRequest:
    """``(model, args)``, ``(model, args, kwargs)`` or a mapping, as an ExportRequest."""
    if isinstance(value, Mapping):
        unknown = set(value) - _MAPPING_KEYS
        if unknown or "model" not in value or "args" not in value:
            raise TargetError(
                f"{label}: the factory returned a mapping with keys {sorted(map(str, value))}; expected "
                "'model' and 'args', optionally 'kwargs', 'dynamic_shapes', 'strict'"
            )
        request = ExportRequest(
            value["model"],
            value["args"],
            value.get("kwargs") or {},
            value.get("dynamic_shapes"),
            value.get("strict"),
        )
    elif isinstance(value, tuple) and len(value) in (2, 3):
        request = ExportRequest(value[0], value[1], value[2] if len(value) == 3 else {})
    else:
        raise TargetError(
            f"{label}: the factory returned {_shape_of(value)}; expected (model, args), "
            "(model, args, kwargs) or a mapping with 'model' and 'args'"
        )
    if isinstance(request.args, list):
        request.args = tuple(request.args)
    if not isinstance(request.args, tuple):
        raise TargetError(f"{label}: args must be a tuple, got {type(request.args).__name__}")
    if not isinstance(request.kwargs, Mapping):
        raise TargetError(f"{label}: kwargs must be a mapping, got {type(request.kwargs).__name__}")
    request.kwargs = dict(request.kwargs)
    if request.strict is not None and not isinstance(request.strict, bool):
        raise TargetError(f"{label}: strict must be True or False, got {request.strict!r}")
    return request


def _shape_of(value: Any) -> str:
    if isinstance(value, tuple):
        return f"a tuple of {len(value)}"
    return f"a {type(value).__name__}"
