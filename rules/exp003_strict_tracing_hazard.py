"""## What it does
Finds strict tracing (`strict=True`, or no `strict=` on a torch older than 2.8, whose default was
strict) of code TorchDynamo cannot trace: a forward that calls a Hugging Face tokenizer or
processor, or (on torch before 2.8) a transformers generative model.

## Why is this bad?
Strict export runs the forward through TorchDynamo, which must understand every Python call.
A tokenizer is a Rust-backed Python object. Measured on torch 2.14.1 (transformers 5.24.0, a
`BertTokenizerFast` built from a local vocab), a forward calling it fails with:

    torch._dynamo.exc.Unsupported: Unsupported method call

Non-strict export (`strict=False`) of the same forward succeeds. `torch.export.export`'s `strict`
default flipped from True to False in PyTorch 2.8 (pytorch/pytorch#148790; the 2.8.0 wheel still
says `strict: bool = True`, 2.8.0 says `False`), so before 2.8 a call without `strict=` is strict.
On the torch releases the cookbook was written for, its Whisper export failed in
strict mode with `InternalTorchDynamoError: AttributeError: 'DynamicCache' object has no attribute
'key_cache'`; on torch 2.14.1 strict export of transformers models traces (measured: BERT, Llama
with `use_cache=False`, Whisper with its cache registered), so the transformers-model case is
only reported for torch before 2.8.

## Example
```python
class Captioner(torch.nn.Module):
    def forward(self, image, caption):
        text = self.tokenizer(caption, return_tensors="pt")
        ...

ep = torch.export.export(Captioner(), (image, "a picture of"), strict=True)
```

## Use instead
```python
ep = torch.export.export(Captioner(), (image, "a picture of"), strict=False)
```
Better still, tokenize outside the model and export a forward that takes `input_ids` (see EXP202).

## Fix safety
Unsafe: non-strict export runs the Python code with fake tensors instead of checking it, so Python
values are baked into the graph (the tokenized text becomes a constant, EXP202) and the graph may
differ from eager for inputs the trace did not see.

## References
- Strict vs. non-strict tracing: https://pytorch.org/docs/stable/export.html#non-strict-export
- Default flip: https://github.com/pytorch/pytorch/pull/148790
- torch.export cookbook, "Automatic Speech Recognition with Whisper"
"""

from __future__ import annotations

import libcst as cst

from export_lint import versions
from export_lint.analysis.semantic import ClassInfo, nodes_in
from export_lint.analysis.shapes import export_call_parts
from export_lint.diagnostics import Applicability, Fix
from export_lint.rule import Invalid, Rule, Valid

from .exp002_hf_cache_output import generative_model_class
from .exp202_non_tensor_input_baked import TOKENIZER_VOCAB

_TOKENIZER = (
    TOKENIZER_VOCAB
    + """

class Captioner(torch.nn.Module):
    def __init__(self, vocab):
        super().__init__()
        self.tokenizer = BertTokenizerFast(vocab_file=vocab)
        self.embed = torch.nn.Embedding(8, 4)

    def forward(self, image, caption):
        text = self.tokenizer(caption, return_tensors="pt")
        return self.embed(text.input_ids).sum(1) + image.mean()


model = Captioner(vocab_file())
"""
)


class StrictTracingHazard(Rule):
    """Strict export of code TorchDynamo cannot trace (tokenizers, transformers models before 2.8)."""

    code = "EXP003"
    requires = ("export",)
    traced_only = True
    name = "strict-tracing-hazard"
    message = "Strict export (TorchDynamo) cannot trace {what}{why}"
    fix_applicability = Applicability.UNSAFE

    VALID = [
        Valid(_TOKENIZER + 'ep = torch.export.export(model, (torch.randn(1, 4), "a cat"), strict=False)\n'),
        # torch 2.8 and later default to non-strict.
        Valid(_TOKENIZER + 'ep = torch.export.export(model, (torch.randn(1, 4), "a cat"))\n', requires_torch=">=2.8"),
        Valid(
            """
            import torch

            class Model(torch.nn.Module):
                def forward(self, x):
                    return x.sin()

            ep = torch.export.export(Model(), (torch.randn(3),), strict=True)
            """
        ),
        # A transformers model on torch >= 2.8: strict export traces it (measured on 2.14.1).
        Valid(
            """
            import torch
            from transformers import AutoModelForCausalLM, LlamaConfig

            config = LlamaConfig(
                hidden_size=32, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2,
                intermediate_size=64, vocab_size=50,
            )
            model = AutoModelForCausalLM.from_config(config).eval()
            ep = torch.export.export(model, (torch.randint(0, 50, (1, 5)),), {"use_cache": False}, strict=True)
            """,
            requires_torch=">=2.8",
        ),
    ]
    INVALID = [
        Invalid(
            _TOKENIZER + 'ep = torch.export.export(model, (torch.randn(1, 4), "a cat"), strict=True)\n',
            after=_TOKENIZER + 'ep = torch.export.export(model, (torch.randn(1, 4), "a cat"), strict=False)\n',
        ),
        # Before 2.8 no `strict=` means strict: proven on those releases (after 2.8 it exports).
        Invalid(
            _TOKENIZER + 'ep = torch.export.export(model, (torch.randn(1, 4), "a cat"))\n',
            after=_TOKENIZER + 'ep = torch.export.export(model, (torch.randn(1, 4), "a cat"), strict=False)\n',
            torch_version="2.6",
            requires_torch="<2.8",
        ),
        # The cookbook's Whisper export on a torch before 2.8 (no such torch installed here).
        Invalid(
            """
            import torch
            from transformers import WhisperForConditionalGeneration

            model = WhisperForConditionalGeneration.from_pretrained("openai/whisper-tiny")
            ep = torch.export.export(model, args=(torch.randn(1, 80, 3000),))
            """,
            after="""
            import torch
            from transformers import WhisperForConditionalGeneration

            model = WhisperForConditionalGeneration.from_pretrained("openai/whisper-tiny")
            ep = torch.export.export(model, args=(torch.randn(1, 80, 3000),), strict=False)
            """,
            torch_version="2.6",
            proves=False,
        ),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        if not self.semantic.is_export_call(node) or any(arg.star for arg in node.args):
            return
        strict = next((arg for arg in node.args if arg.keyword is not None and arg.keyword.value == "strict"), None)
        old_torch = versions.strict_by_default(self.context.torch_version)
        if strict is None:
            if not old_torch:
                return
            why = f" (no `strict=` means strict before torch {versions.NON_STRICT_DEFAULT_SINCE})"
        elif isinstance(strict.value, cst.Name) and strict.value.value == "True":
            why = ""
        else:
            return
        parts = export_call_parts(node)
        if parts.target is None:
            return
        what = self._untraceable(parts.target, node, old_torch)
        if what is None:
            return
        if strict is None:
            edit = self.context.add_keyword_argument(node, "strict=False")
        else:
            edit = self.context.replace(strict.value, "False")
        self.report(node, Fix("Export non-strict (`strict=False`)", (edit,), Applicability.UNSAFE), what=what, why=why)

    def _untraceable(self, target: cst.BaseExpression, call: cst.Call, old_torch: bool) -> str | None:
        """What in the target strict tracing cannot handle, or None."""
        qualified = self.semantic.constructed_class(target, before=call)
        info = self._local_class(qualified)
        if info is None and isinstance(target, cst.Name) and target.value == "self":
            enclosing = self.semantic.enclosing_method()
            info = enclosing[0] if enclosing is not None else None
        if info is not None:
            if not self.semantic.is_module_class_name(f"{self.semantic.module_name}.{info.name}"):
                return None
            for function in self.semantic.traced_from(info):
                owner = self.semantic.owner_of(function)
                stack = [self.semantic.module, owner.node, function] if owner else [self.semantic.module, function]
                for inner in nodes_in(function.body, cst.Call):
                    if self.semantic.is_tokenizer_call(inner, stack, owner):
                        return f"`{info.name}.{function.name.value}`, which calls a tokenizer"
            return None
        class_name = generative_model_class(qualified)
        if class_name is not None and old_torch:
            return f"`{class_name}` (a transformers model)"
        return None

    def _local_class(self, qualified: str | None) -> ClassInfo | None:
        prefix = f"{self.semantic.module_name}."
        if qualified is None or not qualified.startswith(prefix):
            return None
        return self.semantic.classes.get(qualified[len(prefix) :])
