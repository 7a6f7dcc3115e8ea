"""## What it does
Finds text that becomes a constant of the exported graph: a `str` (or a list/tuple of `str`)
passed as an export input, and text tokenized inside traced code (a tokenizer or processor called
in `forward` or what it calls).

## Why is this bad?
torch.export traces tensors; every other value is specialized. Measured on torch 2.14.1
(non-strict, transformers 5.24.0 `BertTokenizerFast`): a forward `forward(image, caption)` that
tokenizes `caption` exports, the caption is recorded as `ConstantArgument(name='caption',
value='a picture of')`, the token ids become lifted constant tensors, and calling the exported
module with another caption fails:

    AssertionError: Guard failed: caption == 'a picture of'

A forward that tokenizes text it holds (a prompt attribute) exports the ids of the text seen at
export time: changing the text afterwards changes eager outputs, not the exported ones. In strict
mode the tokenizer call fails outright (EXP003).

Booleans and numbers passed as inputs are specialized the same way, but they are usually meant as
fixed flags (`multimask_output=True`), so the rule only reports text.

## Example
```python
ep = torch.export.export(model, (image, "a picture of"), strict=False)
```

## Use instead
Tokenize outside the exported module and export a forward that takes the ids:
```python
ids = tokenizer("a picture of", return_tensors="pt").input_ids
ep = torch.export.export(decoder, (image, ids), dynamic_shapes=...)
```

## Fix safety
Display-only: moving tokenization out of the model changes its interface.

## References
- torch.export, non-tensor inputs are specialized: https://pytorch.org/docs/stable/export.html
- torch.export cookbook, "Image Captioning with BLIP"
"""

from __future__ import annotations

import libcst as cst

from export_lint.analysis.shapes import export_call_parts
from export_lint.diagnostics import Applicability
from export_lint.rule import Invalid, Rule, Valid, shorten

#: Example prelude: a tiny BERT tokenizer vocabulary written to a temporary file (shared with EXP003).
TOKENIZER_VOCAB = """
import os
import tempfile

import torch
from transformers import BertTokenizerFast


def vocab_file():
    folder = tempfile.mkdtemp()
    path = os.path.join(folder, "vocab.txt")
    with open(path, "w") as handle:
        handle.write("\\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a", "picture", "of", "cat"]))
    return path
"""

_CAPTIONER = (
    TOKENIZER_VOCAB
    + """

tokenizer = BertTokenizerFast(vocab_file=vocab_file())
"""
)


class NonTensorInputBaked(Rule):
    """Text passed to or tokenized inside the exported program becomes a graph constant."""

    code = "EXP202"
    traced_only = True
    name = "non-tensor-input-baked"
    message = "{what}: torch.export bakes it into the graph as a constant"
    fix_applicability = Applicability.DISPLAY_ONLY

    VALID = [
        Valid(
            _CAPTIONER
            + """
class Decoder(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(8, 4)

    def forward(self, image, input_ids):
        return self.embed(input_ids).sum(1) + image.mean()


ids = tokenizer("a picture of", return_tensors="pt").input_ids
ep = torch.export.export(Decoder(), (torch.randn(1, 4), ids))
"""
        ),
        Valid(
            """
            import torch

            class Model(torch.nn.Module):
                def forward(self, x, scale: float, flag: bool):
                    return x * scale if flag else x

            ep = torch.export.export(Model(), (torch.randn(3), 2.0, True))
            """
        ),
    ]
    INVALID = [
        Invalid(
            _CAPTIONER
            + """
class Captioner(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.tokenizer = tokenizer
        self.embed = torch.nn.Embedding(8, 4)

    def forward(self, image, caption):
        text = self.tokenizer(caption, return_tensors="pt")
        return self.embed(text.input_ids).sum(1) + image.mean()


model = Captioner()
caption = "a picture of"
ep = torch.export.export(model, (torch.randn(1, 4), caption), strict=False)
ep.module()(torch.randn(1, 4), "a cat")
""",
            count=2,
        ),
        Invalid(
            _CAPTIONER
            + """
class Prompted(torch.nn.Module):
    def __init__(self, prompt):
        super().__init__()
        self.prompt = prompt
        self.embed = torch.nn.Embedding(8, 4)

    def forward(self, image):
        ids = tokenizer.encode(self.prompt, return_tensors="pt")
        return self.embed(ids).sum(1) + image.mean()


model = Prompted("a picture of")
image = torch.randn(1, 4)
ep = torch.export.export(model, (image,))
model.prompt = "a cat"
assert torch.allclose(ep.module()(image), model(image))
""",
        ),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        if self.semantic.is_export_call(node):
            self._check_inputs(node)
        elif self.semantic.in_traced_code() and self.semantic.is_tokenizer_call(node):
            self.report(node, what=f"`{shorten(self.context.code(node), 50)}` tokenizes text inside traced code")

    def _check_inputs(self, call: cst.Call) -> None:
        parts = export_call_parts(call)
        values: list[cst.BaseExpression] = []
        if isinstance(parts.args, (cst.Tuple, cst.List)):
            values += [e.value for e in parts.args.elements if isinstance(e, cst.Element)]
        if isinstance(parts.kwargs, cst.Dict):
            values += [e.value for e in parts.kwargs.elements if isinstance(e, cst.DictElement)]
        for value in values:
            kind = self._text_kind(value, call)
            if kind is not None:
                self.report(value, what=f"`{shorten(self.context.code(value), 50)}` ({kind}) is an export input")

    def _text_kind(self, value: cst.BaseExpression, call: cst.Call, depth: int = 0) -> str | None:
        if isinstance(value, (cst.SimpleString, cst.ConcatenatedString, cst.FormattedString)):
            if isinstance(value, cst.SimpleString) and value.prefix.lower().startswith("b"):
                return None
            return "a `str`"
        if isinstance(value, (cst.List, cst.Tuple)) and value.elements:
            if all(
                isinstance(e, cst.Element) and self._text_kind(e.value, call, depth + 1) == "a `str`"
                for e in value.elements
            ):
                return "a list of `str`"
            return None
        if isinstance(value, cst.Name) and depth < 4:
            scope = self.semantic.scopes()[0]
            for assign in reversed(self.semantic.assignments_before(scope, call)):
                if any(isinstance(t.target, cst.Name) and t.target.value == value.value for t in assign.targets):
                    return self._text_kind(assign.value, call, depth + 1)
        return None
