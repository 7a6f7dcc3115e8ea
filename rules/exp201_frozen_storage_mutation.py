"""## What it does
Finds an in-place write (index assignment, augmented assignment, `add_`/`copy_`/`masked_fill_`/...)
inside traced code on a tensor that the traced code created from constant data and then moved with
`.to(...)`, before any clone: a tokenizer's output (`tokenizer(text, return_tensors="pt").to(device)`,
also a small tokenizer class of the same file whose method returns `torch.tensor(ids).to(device)`)
or `torch.tensor` / `torch.as_tensor` / `torch.from_numpy` data followed by `.to(...)`.

## Why is this bad?
During export such tensors are constants, and the copy `.to(...)` makes of one has frozen storage.
Before PyTorch 2.6 writing to it failed the export, strict and non-strict alike:

    RuntimeError: cannot mutate tensors with frozen storage

This is the BLIP failure of the torch.export cookbook: `text.input_ids[:, 0] = bos_token_id` on the
output of the tokenizer called in `forward`, moved to the image's device. Measured with
`scripts/torch_matrix.py` (docs/torch-versions.md): the write fails on torch 2.4.1 and 2.5.1, strict
and non-strict, and exports from 2.6.0 on (the cookbook says 2.7); the same writes without `.to(...)`
export on every release, and are not reported. The rule is gated to `--torch-version` below 2.6.

## Example
```python
def forward(self, image, caption):
    text = self.tokenizer(caption, return_tensors="pt").to(image.device)
    text.input_ids[:, 0] = self.tokenizer.bos_token_id
```

## Use instead
```python
def forward(self, image, caption):
    text = self.tokenizer(caption, return_tensors="pt").to(image.device)
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
        text = self.tokenizer(caption, padding="longest", return_tensors="pt").to(image.device)
{write}        text.input_ids[:, 0] = self.tokenizer.bos_token_id
        targets = text.input_ids.masked_fill(text.input_ids == self.tokenizer.pad_token_id, -100)
        targets[:, :1] = -100
        return self.embed(text.input_ids).sum(1) + image.mean(), targets


model = Decoder(vocab_file())
ep = torch.export.export(model, (torch.randn(1, 4), "a picture of"), strict=False)
"""

#: A BLIP-style caption decoder with its own small tokenizer class: ``torch.tensor(ids).to(device)``.
_OWN_TOKENIZER = """
import torch

WORDS = ["[PAD]", "[UNK]", "[DEC]", "a", "picture", "of", "cat"]


class CaptionTokenizer:
    def __init__(self, words):
        self.vocab = {{word: index for index, word in enumerate(words)}}
        self.bos_token_id = self.vocab["[DEC]"]

    def __call__(self, caption, device):
        ids = [0] + [self.vocab.get(word, 1) for word in caption.split()]
        return torch.tensor([ids]).to(device)


class CaptionDecoder(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.tokenizer = CaptionTokenizer(WORDS)
        self.embed = torch.nn.Embedding(len(WORDS), 4)

    def forward(self, image, caption):
        input_ids = self.tokenizer(caption, image.device)
{write}        input_ids[:, 0] = self.tokenizer.bos_token_id
        return self.embed(input_ids).sum(1) + image.mean()


ep = torch.export.export(CaptionDecoder(), (torch.randn(1, 4), "a picture of"))
"""

_CONSTANTS = """
import numpy as np
import torch

class Model(torch.nn.Module):
    def forward(self, x):
        offsets = torch.tensor([1.0, 2.0, 3.0]){to}
{clone_offsets}        offsets += 1
        ids = torch.as_tensor([[1, 2, 3]]){to}
{clone_ids}        ids.masked_fill_(ids == 2, 0)
        scale = torch.from_numpy(np.ones(3, dtype=np.float32)){to}
{clone_scale}        scale[0] = 2.0
        return x + offsets + ids.float() * scale

ep = torch.export.export(Model(), (torch.randn(1, 3),))
"""


def _constants(to: str = ".to(x.device)", clone: bool = False) -> str:
    clones = {
        f"clone_{name}": f"        {name} = {name}.clone()\n" if clone else "" for name in ("offsets", "ids", "scale")
    }
    return _CONSTANTS.format(to=to, **clones)


@dataclasses.dataclass
class _Frozen:
    """A tensor expression whose storage export freezes."""

    source: str
    container: str | None = None  # the BatchEncoding name for ``text.input_ids`` / ``text["input_ids"]``
    aliased: bool = False
    moved: bool = False  # went through ``.to(...)``: only then is its storage frozen


@dataclasses.dataclass
class _Container:
    """A tokenizer's output (``BatchEncoding``): its tensors are constants."""

    source: str
    moved: bool = False


class FrozenStorageMutation(Rule):
    """In-place write to a tensor created in traced code from a tokenizer call or constant data."""

    code = "EXP201"
    requires = ("class",)
    traced_only = True
    name = "frozen-storage-mutation"
    message = "In-place write to `{target}`, created from {source} inside traced code: its storage is frozen"
    torch_versions = "<2.6"
    fix_applicability = Applicability.SAFE

    VALID = [
        # Cloned first: a new tensor, not a constant.
        Valid(_BLIP.format(write="        text.input_ids = text.input_ids.clone()\n"), torch_version="2.5"),
        Valid(_OWN_TOKENIZER.format(write="        input_ids = input_ids.clone()\n"), torch_version="2.5"),
        # Constant data written without `.to(...)`: exports on every torch (measured 2.4.1 to 2.15.0).
        Valid(_constants(to=""), torch_version="2.5"),
        Valid(
            """
            import torch

            def collate(captions, tokenizer):
                batch = tokenizer(captions, return_tensors="pt").to("cpu")
                batch.input_ids[:, 0] = tokenizer.bos_token_id
                return batch

            class Model(torch.nn.Module):
                def forward(self, x):
                    offsets = torch.tensor([1.0, 2.0]).to(x.device)
                    shifted = offsets * 2
                    shifted[0] = 0.0
                    return x + shifted
            """,
            torch_version="2.5",
        ),
        # torch 2.6 and later export these writes.
        Valid(_BLIP.format(write=""), torch_version="2.6", requires_torch=">=2.6"),
        Valid(_OWN_TOKENIZER.format(write=""), torch_version="2.6", requires_torch=">=2.6"),
    ]
    INVALID = [
        # The BLIP-style decoder of the issue: its own tokenizer class, then `input_ids[:, 0] = bos`.
        Invalid(
            _OWN_TOKENIZER.format(write=""),
            after=_OWN_TOKENIZER.format(write="        input_ids = input_ids.clone()\n"),
            torch_version="2.5",
        ),
        Invalid(
            _BLIP.format(write=""),
            after=_BLIP.format(write="        text.input_ids = text.input_ids.clone()\n"),
            torch_version="2.5",
        ),
        Invalid(_constants(), after=_constants(clone=True), torch_version="2.5", count=3),
    ]

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        if not self.semantic.is_traced(node):
            return
        self._stack = list(self.semantic.stack)
        self._owner = self.semantic.owner_of(node)
        self._function = node
        self._depth = 0
        frozen: dict[str, _Frozen] = {}
        containers: dict[str, _Container] = {}
        reported: set[str] = set()
        for line in nodes_in(node.body, cst.SimpleStatementLine):
            for small in line.body:
                for target, key in self._writes(small, frozen, containers):
                    if key in reported or not frozen[key].moved:
                        continue
                    reported.add(key)
                    self._report(line, target, frozen[key])
                self._bind(small, frozen, containers)

    # -- what a statement does ------------------------------------------------------------
    def _key(
        self, expr: cst.BaseExpression, frozen: dict[str, _Frozen], containers: dict[str, _Container]
    ) -> str | None:
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
            frozen[key] = _Frozen(containers[container].source, container, moved=containers[container].moved)
            return key
        return None

    def _writes(self, small: cst.CSTNode, frozen: dict[str, _Frozen], containers: dict[str, _Container]):
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

    def _bind(self, small: cst.CSTNode, frozen: dict[str, _Frozen], containers: dict[str, _Container]) -> None:
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
                if isinstance(source, _Container):
                    containers[name] = source
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

    def _source(self, value: cst.BaseExpression, frozen: dict[str, _Frozen], containers: dict[str, _Container]):
        """What an assigned value is: a constant tensor (``_Frozen``), a tokenizer output, or None."""
        if isinstance(value, cst.Call):
            func = value.func
            if isinstance(func, cst.Attribute) and func.attr.value == "to":
                # ``.to(device)`` of constant data: the copy's storage is the frozen one.
                inner = self._source(func.value, frozen, containers)
                if isinstance(inner, _Frozen):
                    return dataclasses.replace(inner, container=None, moved=True)
                if isinstance(inner, _Container):
                    return _Container(inner.source, moved=True)
                return None
            if self.semantic.is_tokenizer_call(value, self._stack, self._owner):
                return _Container("a tokenizer call")
            qualified = self.semantic.qualified_name(func, self._stack)
            if qualified in _CONSTANT_FACTORIES or qualified in _NUMPY_FACTORIES:
                return _Frozen(f"constant data (`{qualified}`)")
            return self._own_tokenizer(value)
        if isinstance(value, (cst.Attribute, cst.Subscript)) and isinstance(value.value, cst.Call):
            inner = self._source(value.value, frozen, containers)
            if isinstance(inner, _Container):
                return _Frozen(inner.source, moved=inner.moved)
            return None
        key = self._key(value, frozen, containers)
        if key is not None:
            frozen[key].aliased = True
            return dataclasses.replace(frozen[key], container=None, aliased=True)
        return None

    def _own_tokenizer(self, call: cst.Call) -> _Frozen | _Container | None:
        """``self.tok(text, device)`` / ``self.tok.encode(...)`` where ``self.tok`` is an instance of a
        class of this file whose method returns constant data (``torch.tensor(ids).to(device)``)."""
        func = call.func
        method_name = "__call__"
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Attribute):
            method_name, func = func.attr.value, func.value
        if not (isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value == "self"):
            return None
        info = self._attribute_class(func.attr.value)
        method = self.semantic.find_method(info, method_name) if info is not None else None
        if method is None or self._depth > 3:
            return None
        self._depth += 1
        try:
            frozen: dict[str, _Frozen] = {}
            containers: dict[str, _Container] = {}
            found = None
            for line in nodes_in(method.body, cst.SimpleStatementLine):
                for small in line.body:
                    if isinstance(small, cst.Return) and small.value is not None:
                        found = found or self._source(small.value, frozen, containers)
                    self._bind(small, frozen, containers)
        finally:
            self._depth -= 1
        if isinstance(found, _Frozen):
            return _Frozen(f"`{info.name}.{method_name}`, which returns {found.source}", moved=found.moved)
        if isinstance(found, _Container):
            return _Container(f"`{info.name}.{method_name}`, which returns {found.source}", moved=found.moved)
        return None

    def _attribute_class(self, attribute: str):
        """The class of this file that the owner's methods assign to ``self.attribute``, if any."""
        if self._owner is None:
            return None
        for method in self._owner.methods.values():
            for assign in nodes_in(method.body, cst.Assign):
                if not isinstance(assign.value, cst.Call) or not isinstance(assign.value.func, cst.Name):
                    continue
                if any(dotted_name(t.target) == f"self.{attribute}" for t in assign.targets):
                    info = self.semantic.classes.get(assign.value.func.value)
                    if info is not None:
                        return info
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
