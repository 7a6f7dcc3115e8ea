"""What torch's functions and ``Tensor`` methods return, and which aten operators have outputs
whose shape or value depends on tensor data: read from ``torch_facts.json``, which
``scripts/gen_torch_facts.py`` generates from the installed torch (its ``.pyi`` stubs and the
``torch.Tag`` tags of its ``OpOverload``s). Reading it never imports torch."""

from __future__ import annotations

import functools
import json
from pathlib import Path

TABLE = Path(__file__).with_name("torch_facts.json")

#: Composite functions and methods that torch runs through a data-shaped operator (they carry no
#: tag themselves): ``argwhere`` is ``nonzero`` transposed, ``unique`` dispatches to ``_unique2``.
DATA_SHAPED_COMPOSITES = frozenset({"argwhere", "unique"})
#: ``Tensor.tolist`` reads every element like ``item`` (a Python method, not an operator).
DATA_READING_COMPOSITES = frozenset({"tolist"})
#: torch functions not in the stubs (defined in Python, or not functions) that return no tensor.
NON_TENSOR_UNLISTED = frozenset({"Size", "finfo", "iinfo", "cond", "meshgrid"})


@functools.cache
def table() -> dict:
    return json.loads(TABLE.read_text(encoding="utf-8"))


def _public(op: str) -> str:
    """``_unique2`` -> ``unique``; ``unique_dim`` stays (an aten name is its function's name)."""
    return op.lstrip("_").rstrip("0123456789")


@functools.cache
def data_shaped_names() -> frozenset[str]:
    """Functions and methods whose output shape depends on tensor data (``dynamic_output_shape``)."""
    return frozenset(map(_public, table()["dynamic_output_shape"])) | DATA_SHAPED_COMPOSITES


@functools.cache
def data_reading_methods() -> frozenset[str]:
    """Methods that read tensor data into Python (``data_dependent_output``: ``item``)."""
    names = {op for op in table()["data_dependent_output"] if not op.startswith("_")}
    return frozenset(names) | DATA_READING_COMPOSITES


def _returns_tensor(kind: str | None) -> bool | None:
    if kind is None:
        return None
    return kind == "tensor" or (kind.startswith("mixed:") and "tensor" in kind[6:].split(","))


def function_returns_tensor(qualified: str) -> bool | None:
    """Whether ``torch.x`` / ``torch.nn.functional.x`` returns a tensor (or may); None when unknown."""
    namespace, _, name = qualified.rpartition(".")
    if namespace == "torch":
        if name in NON_TENSOR_UNLISTED:
            return False
        return _returns_tensor(table()["functions"].get(name))
    if namespace == "torch.nn.functional":
        return _returns_tensor(table()["nn_functional"].get(name))
    return None


def method_returns_tensor(name: str) -> bool | None:
    """Whether ``Tensor.name(...)`` returns a tensor (or may); None when torch has no such method."""
    return _returns_tensor(table()["tensor_methods"].get(name))
