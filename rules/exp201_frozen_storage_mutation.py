"""## What it does
Finds an in-place write (index assignment, augmented assignment, `add_`/`copy_`/`masked_fill_`/...)
inside traced code on a tensor that the traced code created from a tokenizer call or from constant
data (`torch.tensor`, `torch.as_tensor` of a literal, `torch.from_numpy`), before any clone.

## Why is this bad?
During export such tensors are constants whose storage torch.export freezes. Before PyTorch 2.7 the
write failed the export:

    RuntimeError: cannot mutate tensors with frozen storage

This is the BLIP failure of the torch.export cookbook: `text.input_ids[:, 0] = bos_token_id` on the
output of the tokenizer called in `forward`. The cookbook notes the constraint was relaxed in 2.7;
measured on torch 2.14.1, strict and non-strict, these writes export. The rule is gated to
`--torch-version` below 2.7.

## Example
```python
def forward(self, image, caption):
    text = self.tokenizer(caption, return_tensors="pt")
    text.input_ids[:, 0] = self.tokenizer.bos_token_id
```

## Use instead
```python
def forward(self, image, caption):
    text = self.tokenizer(caption, return_tensors="pt")
    text.input_ids = text.input_ids.clone()
    text.input_ids[:, 0] = self.tokenizer.bos_token_id
```

## Fix safety
The fix inserts `X = X.clone()` before the first write. Safe when every later read goes through
the same expression `X`. Unsafe when the tensor has other names: a `BatchEncoding` read later as
`text["input_ids"]` or `**text` (assigning the attribute does not change the dict entry), or an
alias `ids = text.input_ids` taken before; those names keep the unwritten values.

## References
- torch.export cookbook, "Image Captioning with BLIP"
- torch.export programming model (constants and non-strict tracing): https://pytorch.org/docs/stable/export.html
"""

from __future__ import annotations

import dataclasses

import libcst as cst

from export_lint.analysis.semantic import dotted_name, nodes_in
from export_lint.diagnostics import Applicability, Fix
from export_lint.rule import Invalid, Rule, Valid

_CONSTANT_FACTORIES = frozenset({"torch.tensor", "torch.as_tensor"})
_NUMPY_FACTORIES = frozenset({"torch.from_numpy"})
#: In-place methods that do not write the tensor's values.
_NOT_WRITES = frozenset({"requires_grad_", "share_memory_", "retain_grad_"})

_BLIP = """
import os
import tempfile

import torch
from transformers import BertTokenizerFast


def vocab_file():
    folder = tempfile.mkdtemp()
    path = os.path.join(folder, "vocab.txt")
    with open(path, "w") as handle:
        handle.write("\\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[DEC]", "a", "picture", "of", "cat"]))
    return path


class Decoder(torch.nn.Module):
    def __init__(self, vocab):
        super().__init__()
        self.tokenizer = BertTokenizerFast(vocab_file=vocab, bos_token="[DEC]")
        self.embed = torch.nn.Embedding(9, 4)

    def forward(self, image, caption):
        text = self.tokenizer(caption, padding="longest", return_tensors="pt")
{write}        text.input_ids[:, 0] = self.tokenizer.bos_token_id
        targets = text.input_ids.masked_fill(text.input_ids == self.tokenizer.pad_token_id, -100)
        targets[:, :1] = -100
        return self.embed(text.input_ids).sum(1) + image.mean(), targets


model = Decoder(vocab_file())
ep = torch.export.export(model, (torch.randn(1, 4), "a picture of"), strict=False)
"""


@dataclasses.dataclass
class _Frozen:
    """A tensor expression whose storage export freezes."""

    source: str
    container: str | None = None  # the BatchEncoding name for ``text.input_ids`` / ``text["input_ids"]``
    aliased: bool = False


class FrozenStorageMutation(Rule):
    """In-place write to a tensor created in traced code from a tokenizer call or constant data."""

    code = "EXP201"
    requires = ("class",)
    traced_only = True
    name = "frozen-storage-mutation"
    message = "In-place write to `{target}`, created from {source} inside traced code: its storage is frozen"
    torch_versions = "<2.7"
    fix_applicability = Applicability.SAFE

    VALID = [
        # Computed from other tensors: a new tensor, not a constant.
        Valid(_BLIP.format(write="        text.input_ids = text.input_ids.clone()\n"), torch_version="2.6"),
        Valid(
            """
            import torch

            def collate(captions, tokenizer):
                batch = tokenizer(captions, return_tensors="pt")
                batch.input_ids[:, 0] = tokenizer.bos_token_id
                return batch

            class Model(torch.nn.Module):
                def forward(self, x):
                    offsets = torch.tensor([1.0, 2.0])
                    shifted = offsets * 2
                    shifted[0] = 0.0
                    return x + shifted
            """,
            torch_version="2.6",
        ),
        # torch 2.7 and later export these writes.
        Valid(_BLIP.format(write=""), torch_version="2.7"),
    ]
    INVALID = [
        Invalid(
            _BLIP.format(write=""),
            after=_BLIP.format(write="        text.input_ids = text.input_ids.clone()\n"),
            torch_version="2.6",
        ),
        Invalid(
            """
            import numpy as np
            import torch

            class Model(torch.nn.Module):
                def forward(self, x):
                    offsets = torch.tensor([1.0, 2.0, 3.0])
                    offsets += 1
                    ids = torch.as_tensor([[1, 2, 3]])
                    ids.masked_fill_(ids == 2, 0)
                    scale = torch.from_numpy(np.ones(3, dtype=np.float32))
                    scale[0] = 2.0
                    return x + offsets + ids.float() * scale

            ep = torch.export.export(Model(), (torch.randn(1, 3),))
            """,
            after="""
            import numpy as np
            import torch

            class Model(torch.nn.Module):
                def forward(self, x):
                    offsets = torch.tensor([1.0, 2.0, 3.0])
                    offsets = offsets.clone()
                    offsets += 1
                    ids = torch.as_tensor([[1, 2, 3]])
                    ids = ids.clone()
                    ids.masked_fill_(ids == 2, 0)
                    scale = torch.from_numpy(np.ones(3, dtype=np.float32))
                    scale = scale.clone()
                    scale[0] = 2.0
                    return x + offsets + ids.float() * scale

            ep = torch.export.export(Model(), (torch.randn(1, 3),))
            """,
            torch_version="2.6",
            count=3,
        ),
    ]

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        if not self.semantic.is_traced(node):
            return
        self._stack = list(self.semantic.stack)
        self._owner = self.semantic.owner_of(node)
        self._function = node
        frozen: dict[str, _Frozen] = {}
        containers: dict[str, str] = {}
        reported: set[str] = set()
        for line in nodes_in(node.body, cst.SimpleStatementLine):
            for small in line.body:
                for target, key in self._writes(small, frozen, containers):
                    if key in reported:
                        continue
                    reported.add(key)
                    self._report(line, target, frozen[key])
                self._bind(small, frozen, containers)

    # -- what a statement does ------------------------------------------------------------
    def _key(self, expr: cst.BaseExpression, frozen: dict[str, _Frozen], containers: dict[str, str]) -> str | None:
        """The tracking key of a frozen tensor expression (``t``, ``text.input_ids``), or None."""
        if isinstance(expr, cst.Name):
            return expr.value if expr.value in frozen else None
        key = _container_key(expr)
        if key is None:
            return None
        if key in frozen:
            return key
        container = key.split(".")[0].split("[")[0]
        if container in containers and f"-{key}" not in frozen:
            frozen[key] = _Frozen(containers[container], container)
            return key
        return None

    def _writes(self, small: cst.CSTNode, frozen: dict[str, _Frozen], containers: dict[str, str]):
        targets: list[cst.BaseExpression] = []
        if isinstance(small, cst.Assign):
            targets = [t.target.value for t in small.targets if isinstance(t.target, cst.Subscript)]
        elif isinstance(small, cst.AugAssign):
            target = small.target
            targets = [target.value if isinstance(target, cst.Subscript) else target]
        for call in nodes_in(small, cst.Call):
            func = call.func
            if (
                isinstance(func, cst.Attribute)
                and func.attr.value.endswith("_")
                and not func.attr.value.startswith("_")
                and func.attr.value not in _NOT_WRITES
            ):
                targets.append(func.value)
        for target in targets:
            key = self._key(target, frozen, containers)
            if key is not None:
                yield target, key

    def _bind(self, small: cst.CSTNode, frozen: dict[str, _Frozen], containers: dict[str, str]) -> None:
        if not isinstance(small, (cst.Assign, cst.AnnAssign)) or small.value is None:
            return
        targets = [t.target for t in small.targets] if isinstance(small, cst.Assign) else [small.target]
        source = self._source(small.value, frozen, containers)
        for target in targets:
            if isinstance(target, cst.Name):
                name = target.value
                frozen.pop(name, None)
                containers.pop(name, None)
                for key in [k for k, v in frozen.items() if v.container == name]:
                    del frozen[key]
                if source == "container":
                    containers[name] = "a tokenizer call"
                elif isinstance(source, _Frozen):
                    frozen[name] = source
            else:
                key = _container_key(target)
                if key is not None:
                    # ``text.input_ids = ...`` replaces the attribute only; ``text["input_ids"] = ...`` both.
                    keys = {key}
                    if "[" in key:
                        container, _, rest = key.partition("[")
                        keys.add(f"{container}.{rest.strip(chr(39) + chr(34) + ']')}")
                    for gone in keys:
                        frozen.pop(gone, None)
                        frozen[f"-{gone}"] = _Frozen("replaced")

    def _source(self, value: cst.BaseExpression, frozen: dict[str, _Frozen], containers: dict[str, str]):
        if isinstance(value, cst.Call):
            # ``tokenizer(...).to(device)``: BatchEncoding.to keeps the tensors on their device.
            inner = value
            while isinstance(inner.func, cst.Attribute) and inner.func.attr.value == "to":
                if not isinstance(inner.func.value, cst.Call):
                    break
                inner = inner.func.value
            if self.semantic.is_tokenizer_call(inner, self._stack, self._owner):
                return "container"
            qualified = self.semantic.qualified_name(value.func, self._stack)
            first = value.args[0].value if value.args and value.args[0].keyword is None else None
            if qualified in _CONSTANT_FACTORIES and first is not None and _is_literal(first):
                return _Frozen(f"constant data (`{qualified}`)")
            if qualified in _NUMPY_FACTORIES:
                return _Frozen(f"constant data (`{qualified}`)")
            return None
        if (
            isinstance(value, (cst.Attribute, cst.Subscript))
            and isinstance(value.value, cst.Call)
            and self.semantic.is_tokenizer_call(value.value, self._stack, self._owner)
        ):
            return _Frozen("a tokenizer call")
        key = self._key(value, frozen, containers)
        if key is not None:
            frozen[key].aliased = True
            return _Frozen(frozen[key].source, aliased=True)
        return None

    # -- report ---------------------------------------------------------------------------
    def _report(self, line: cst.SimpleStatementLine, target: cst.BaseExpression, found: _Frozen) -> None:
        code = self.context.code(target)
        edit = self.context.insert_before_statement(line, f"{code} = {code}.clone()")
        safe = not found.aliased and (found.container is None or not self._read_otherwise(found.container, target))
        fix = Fix(
            f"Clone `{code}` before writing to it",
            (edit,),
            Applicability.SAFE if safe else Applicability.UNSAFE,
        )
        self.report(target, fix, target=code, source=found.source)

    def _read_otherwise(self, container: str, target: cst.BaseExpression) -> bool:
        """Whether the container is used other than through the attribute being cloned."""
        attribute = target.attr.value if isinstance(target, cst.Attribute) else None
        as_value = {id(a.value) for a in nodes_in(self._function.body, cst.Attribute) if a.attr.value == attribute}
        as_target = {id(t.target) for a in nodes_in(self._function.body, cst.Assign) for t in a.targets}
        return any(
            name.value == container and id(name) not in as_value and id(name) not in as_target
            for name in nodes_in(self._function.body, cst.Name)
        )


def _container_key(expr: cst.BaseExpression) -> str | None:
    """``text.input_ids`` or ``text["input_ids"]`` as a key, for a plain name ``text``."""
    if isinstance(expr, cst.Attribute) and isinstance(expr.value, cst.Name):
        return dotted_name(expr)
    if (
        isinstance(expr, cst.Subscript)
        and isinstance(expr.value, cst.Name)
        and len(expr.slice) == 1
        and isinstance(expr.slice[0].slice, cst.Index)
        and isinstance(expr.slice[0].slice.value, cst.SimpleString)
    ):
        return f"{expr.value.value}[{expr.slice[0].slice.value.evaluated_value!r}]"
    return None


def _is_literal(expr: cst.BaseExpression) -> bool:
    if isinstance(expr, (cst.Integer, cst.Float)):
        return True
    if isinstance(expr, cst.Name):
        return expr.value in {"True", "False"}
    if isinstance(expr, cst.UnaryOperation):
        return _is_literal(expr.expression)
    if isinstance(expr, (cst.List, cst.Tuple)):
        return all(isinstance(e, cst.Element) and _is_literal(e.value) for e in expr.elements)
    return False
