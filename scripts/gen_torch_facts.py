"""Generate ``export_lint/analysis/torch_facts.json`` from the installed torch.

What torch's public functions and ``Tensor`` methods return is read from torch's own ``.pyi`` stubs
(and the annotations of ``torch/nn/functional.py``); which aten operators have outputs whose shape
or value depends on tensor data is read from the ``torch.Tag`` tags of their ``OpOverload``s. The
table records the torch version it came from; ``tests/test_torch_facts.py`` fails when it is stale.
``check`` reads the table and never imports torch.

    python scripts/gen_torch_facts.py            # rewrite the table
    python scripts/gen_torch_facts.py --check    # exit 1 when the table is stale
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "export_lint" / "analysis" / "torch_facts.json"

#: Return annotations (after stripping ``torch.`` and leading underscores) and the kind they mean.
_SCALARS = {"int": "int", "SymInt": "int", "float": "float", "bool": "bool", "complex": "scalar", "Number": "scalar"}


def return_kind(annotation: ast.expr | None) -> str:
    """``tensor``, ``tensors`` (a tuple/list/named tuple holding tensors), ``int``, ``float``,
    ``bool``, ``scalar``, ``none`` or ``other``."""
    if annotation is None:
        return "other"
    text = ast.unparse(annotation).replace("torch.", "").replace("typing.", "").replace("typing_extensions.", "")
    if text.lstrip("_").startswith(("TypeIs[", "TypeGuard[")):
        return "bool"
    bare = text.lstrip("_")
    if bare == "Tensor":
        return "tensor"
    if bare in _SCALARS:
        return _SCALARS[bare]
    if bare == "None":
        return "none"
    if "Tensor" in text or text.startswith("return_types."):
        return "tensors"
    return "other"


def _merge(kinds: set[str]) -> str:
    return kinds.pop() if len(kinds) == 1 else "mixed:" + ",".join(sorted(kinds))


def _functions(tree: ast.Module) -> dict[str, str]:
    found: dict[str, set[str]] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.name.startswith("__"):
            found.setdefault(node.name, set()).add(return_kind(node.returns))
    return {name: _merge(kinds) for name, kinds in sorted(found.items())}


def _methods(tree: ast.Module, class_names: set[str]) -> dict[str, str]:
    found: dict[str, set[str]] = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name in class_names:
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and not item.name.startswith("__"):
                    found.setdefault(item.name, set()).add(return_kind(item.returns))
    return {name: _merge(kinds) for name, kinds in sorted(found.items())}


def _parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _tagged_ops(torch) -> dict[str, list[str]]:
    """aten operator names (``aten::nonzero``'s ``nonzero``) whose every overload carries a tag
    (``repeat_interleave`` is data-shaped only with a tensor of repeats: it is left out)."""
    wanted = {
        "dynamic_output_shape": torch.Tag.dynamic_output_shape,
        "data_dependent_output": torch.Tag.data_dependent_output,
    }
    found: dict[str, set[str]] = {name: set() for name in wanted}
    for name in sorted(dir(torch.ops.aten)):
        try:
            packet = getattr(torch.ops.aten, name)
            overloads = packet.overloads()
        except Exception:  # not an operator packet
            continue
        tags = []
        for overload in overloads:
            if overload == "out" or overload.endswith("_out"):
                continue  # out= variants carry fewer tags
            try:
                tags.append(getattr(packet, overload).tags)
            except Exception:
                continue
        for key, tag in wanted.items():
            if tags and all(tag in overload_tags for overload_tags in tags):
                found[key].add(name)
    return {key: sorted(names) for key, names in found.items()}


def generate() -> dict:
    import torch

    folder = Path(torch.__file__).parent
    functional = _functions(_parse(folder / "nn" / "functional.py"))
    functional.update(_functions(_parse(folder / "nn" / "functional.pyi")))
    methods = _methods(_parse(folder / "_C" / "__init__.pyi"), {"TensorBase"})
    for name, kind in _methods(_parse(folder / "_tensor.py"), {"Tensor"}).items():
        methods.setdefault(name, kind)
    functions = _functions(_parse(folder / "_C" / "_VariableFunctions.pyi"))
    for module in ("functional.py", "__init__.py"):  # torch.meshgrid, torch.cond, torch._check, ...
        for name, kind in _functions(_parse(folder / module)).items():
            functions.setdefault(name, kind)
    return {
        "torch_version": torch.__version__.split("+")[0],
        "source": "torch/_C/_VariableFunctions.pyi, torch/functional.py, torch/__init__.py, torch/_C/__init__.pyi "
        "(TensorBase), torch/_tensor.py, torch/nn/functional.py(i); torch.Tag on torch.ops.aten OpOverloads",
        "functions": dict(sorted(functions.items())),
        "nn_functional": dict(sorted(functional.items())),
        "tensor_methods": dict(sorted(methods.items())),
        **_tagged_ops(torch),
    }


def render(table: dict) -> str:
    return json.dumps(table, indent=1, sort_keys=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when the committed table is stale")
    args = parser.parse_args(argv)
    text = render(generate())
    if args.check:
        stale = not TABLE.is_file() or TABLE.read_text(encoding="utf-8") != text
        print(f"{TABLE.relative_to(ROOT)} is {'stale' if stale else 'current'}")
        return 1 if stale else 0
    TABLE.write_text(text, encoding="utf-8")
    print(f"wrote {TABLE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
