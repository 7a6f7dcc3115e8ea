"""## What it does
Finds the `forward` of an export root that returns an object torch.export cannot flatten: an
instance of a class of the project that is neither a tensor container it knows (tuple, list, dict,
named tuple) nor registered as a pytree node -- a KV cache (`DynamicCache`, `EncoderDecoderCache`),
a plain result class, an unregistered dataclass -- returned as it is, inside a tuple, list or dict,
or in a field of an output class that is registered (transformers' `ModelOutput`), also through a
submodule's output (`return Out(cache=outputs.cache)`).

## Why is this bad?
The exported program's outputs must flatten to tensors and constants. Measured on torch 2.14.1, a
`forward` returning an instance of a plain class fails in both modes:

    strict=False: RuntimeError: Found <class 'Detections'> in output, which is not a known type. If this type holds tensors, you need to register a pytree for it.
    strict=True:  AssertionError: Encountered unrecognized type UserDefinedObjectVariable(Detections) at output 1

This is why 137 of the transformers 5.24 models of the recall corpus fail to export as they are
(`benchmarks/results/recall.md`): with `use_cache` on (their configs' default) the base model's
`forward` builds a `DynamicCache` or `EncoderDecoderCache` and returns it in its output, and
transformers registers those only when asked (`register_cache_pytrees_for_model`).

The rule follows the returned value through assignments before the `return`, `a if c else b`,
containers, calls of helpers and submodules, across the project's files; a class counts only when
all its bases are project classes (or `object`, `abc.ABC`, `typing.Generic`) and no decorator, no
`__init_subclass__`, no module-level `register_pytree_node(...)` / `register_dataclass(...)` call,
nor one in a file that calls an export function, names it. Anything it cannot resolve is silent.
Export calls of a Hugging Face model with the cache on are EXP002's concern.

## Example
```python
class Detections:
    def __init__(self, boxes, scores):
        self.boxes = boxes
        self.scores = scores


class Detector(torch.nn.Module):
    def forward(self, x):
        out = self.head(x)
        return Detections(out[:, :4], out[:, 4])
```

## Use instead
Return tensors, a named tuple, or register the class so that export can flatten it:
```python
torch.utils._pytree.register_pytree_node(
    Detections,
    lambda d: ((d.boxes, d.scores), None),
    lambda children, context: Detections(*children),
)
```
(`torch.export.register_dataclass(Prediction)` for a dataclass). For a transformers model: export
with `use_cache=False`, or call `register_cache_pytrees_for_model(model)`
(`transformers.exporters.exporter_dynamo`) before exporting.

## Fix safety
No automatic fix: how the object flattens (which fields are tensors, how to rebuild it) is the
class author's decision.

## References
- torch.export docs, "Custom pytree nodes": https://pytorch.org/docs/stable/export.html
- transformers pytree registration of caches: https://github.com/huggingface/transformers/pull/36311
"""

from __future__ import annotations

import libcst as cst

from export_lint.rule import Invalid, Rule, Valid

#: The module of two examples: a classifier returning ``Prediction`` (a dataclass each defines).
_CLASSIFIER = """
            class Classifier(torch.nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = torch.nn.Linear(4, 3)

                def forward(self, x):
                    return Prediction(self.fc(x))


            torch.export.export(Classifier(), (torch.randn(2, 4),), strict={strict})
            """

#: The module of three examples: a detector returning ``Detections`` (defined by each example).
_DETECTOR = """

            class Detector(torch.nn.Module):
                def __init__(self):
                    super().__init__()
                    self.head = torch.nn.Linear(4, 5)

                def forward(self, x):
                    out = self.head(x)
                    return Detections(out[:, :4], out[:, 4])


            torch.export.export(Detector(), (torch.randn(2, 4),){strict})
            """


class UnflattenableExportOutput(Rule):
    """An export root's forward returns an object torch.export cannot flatten."""

    code = "EXP008"
    requires = ("class", "return")
    traced_only = True
    name = "unflattenable-export-output"
    message = (
        "`{function}` returns an object of class `{cls}`{via} (built at {built}){also}: torch.export cannot "
        "flatten it as an output (`Found <class {cls}> in output, which is not a known type`); {remedy}"
    )

    VALID = [
        Valid(
            """
            from typing import NamedTuple

            import torch


            class Detections(NamedTuple):
                boxes: torch.Tensor
                scores: torch.Tensor
            """
            + _DETECTOR.format(strict="")
        ),
        Valid(
            """
            import torch
            import torch.utils._pytree as pytree


            class Detections:
                def __init__(self, boxes, scores):
                    self.boxes = boxes
                    self.scores = scores


            pytree.register_pytree_node(
                Detections,
                lambda d: ((d.boxes, d.scores), None),
                lambda children, context: Detections(*children),
            )
            """
            + _DETECTOR.format(strict=", strict=False")
        ),
        Valid(
            """
            import dataclasses

            import torch


            @dataclasses.dataclass
            class Prediction:
                logits: torch.Tensor


            torch.export.register_dataclass(Prediction)

            """
            + _CLASSIFIER.format(strict="False")
        ),
        # A base class the project does not define: what it registers is unknown, so silent.
        Valid(
            """
            import torch
            from somelib.outputs import RegisteredOutput


            class Output(RegisteredOutput):
                pass


            class Model(torch.nn.Module):
                def forward(self, x):
                    return Output(x + 1)


            torch.export.export(Model(), (torch.randn(2),))
            """,
            proves=False,
        ),
    ]
    INVALID = [
        Invalid(
            """
            import torch


            class Detections:
                def __init__(self, boxes, scores):
                    self.boxes = boxes
                    self.scores = scores
            """
            + _DETECTOR.format(strict="")
        ),
        Invalid(
            """
            import torch


            class KVCache:
                def __init__(self):
                    self.keys = []

                def update(self, key):
                    self.keys.append(key)
                    return torch.cat(self.keys, dim=0)


            class Attention(torch.nn.Module):
                def __init__(self):
                    super().__init__()
                    self.key = torch.nn.Linear(8, 8)

                def forward(self, x, cache=None, use_cache=True):
                    key = self.key(x)
                    if use_cache and cache is None:
                        cache = KVCache()
                    if cache is not None:
                        key = cache.update(key)
                    return key, cache


            torch.export.export(Attention(), (torch.randn(2, 8),), strict=False)
            """
        ),
        Invalid(
            """
            from typing import NamedTuple

            import torch


            class Memory:
                def __init__(self, state):
                    self.state = state


            class EncoderOutput(NamedTuple):
                hidden: torch.Tensor
                memory: Memory


            class Encoder(torch.nn.Module):
                def __init__(self):
                    super().__init__()
                    self.proj = torch.nn.Linear(8, 8)

                def forward(self, x):
                    hidden = self.proj(x)
                    return EncoderOutput(hidden=hidden, memory=Memory(hidden.mean(0)))


            class Model(torch.nn.Module):
                def __init__(self):
                    super().__init__()
                    self.encoder = Encoder()

                def forward(self, x):
                    out = self.encoder(x)
                    return {"hidden": out.hidden, "memory": out.memory}


            torch.export.export(Model(), (torch.randn(2, 8),), strict=False)
            """
        ),
        Invalid(
            """
            import dataclasses

            import torch


            @dataclasses.dataclass
            class Prediction:
                logits: torch.Tensor

            """
            + _CLASSIFIER.format(strict="True")
        ),
    ]

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        if not self.semantic.output_facts:
            return
        facts = self.semantic.output_facts.get(self.semantic.function_qualname(node))
        if not facts:
            return
        first, others = facts[0], sorted({fact.name for fact in facts[1:]} - {facts[0].name})
        self.report(
            node.name,
            function=node.name.value,
            cls=first.name,
            via=f" {first.via}" if first.via else "",
            built=first.built,
            also=f" (and `{'`, `'.join(others)}` too)" if others else "",
            remedy=_remedy(first.hint if not others else next((f.hint for f in facts if f.hint), "")),
        )


def _remedy(hint: str) -> str:
    if hint == "cache":
        return (
            "export with `use_cache=False`, or register the cache classes first "
            "(`transformers.exporters.exporter_dynamo.register_cache_pytrees_for_model(model)`)"
        )
    return "return its tensors, or register the class as a pytree node (`torch.utils._pytree.register_pytree_node`)"
