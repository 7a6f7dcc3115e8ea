"""The reference cases: the torch.export cookbook's four models as users write them, hazards included.

Each fixture module is ordinary user code with one entry function ``(weights=None, device="cpu")``
that builds its model (random weights from a config unless local weights are given) and exports it.
The table below says which export-lint codes each fixture must raise on which torch, and what the
real torch.export is claimed to do with the original code.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from export_lint import versions

#: What a code claims about the original code.
FAILS = "fails"  # torch.export.export raises
FAILS_ON_CALL = "fails-on-call"  # export succeeds, calling the program as the code does raises
BAKED = "baked"  # exports, but a non-tensor input is a constant: another value is rejected or ignored


@dataclasses.dataclass(frozen=True)
class Expectation:
    code: str
    claim: str
    torch_versions: str = ""  # where the hazard is real; "" = every torch
    error: str = ""  # a regex the original's error matches when it fails for this code's reason
    #: The transformers releases where the hazard is real ("" = every one, or transformers absent).
    transformers_versions: str = ""

    def applies(self, torch_version: str, transformers_version: str | None = None) -> bool:
        if transformers_version is not None and not versions.matches(
            versions.parse_version(transformers_version), self.transformers_versions
        ):
            return False
        return versions.matches(versions.parse_version(torch_version), self.torch_versions)


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    title: str
    module: str  # fixture module in this package
    entry: str  # its function (weights=None, device="cpu") -> ExportedProgram
    expectations: tuple[Expectation, ...]
    requires: tuple[str, ...]  # modules the case imports (beyond torch)
    weights_help: str
    source: Path | None = None  # a fixture outside this package (tests)

    @property
    def path(self) -> Path:
        return self.source or Path(__file__).with_name(f"{self.module}.py")

    def expected(self, torch_version: str, transformers_version: str | None = "installed") -> list[Expectation]:
        """The expectations on that torch and transformers (by default the installed transformers)."""
        if transformers_version == "installed":
            transformers_version = versions.installed_version("transformers")
        return [e for e in self.expectations if e.applies(torch_version, transformers_version)]


CASES: tuple[Case, ...] = (
    Case(
        "mvit",
        "MViT-B video classifier (torchvision mvit_v1_b)",
        "mvit_video",
        "export_classifier",
        (Expectation("EXP101", FAILS_ON_CALL, error=r"Guard failed|Expected input at \*args\[0\]\.shape\[0\]"),),
        ("torchvision", "numpy"),
        "a state-dict file for torchvision's mvit_v1_b",
    ),
    Case(
        "whisper",
        "Whisper speech recognition (transformers, whisper-tiny config)",
        "whisper_asr",
        "export_transcriber",
        (
            # Whisper returns legacy cache tuples (exportable) up to transformers 4.53, its
            # EncoderDecoderCache from 4.54 (modeling_whisper.py; measured on 4.49 and 5.24).
            Expectation("EXP002", FAILS, error=r"Cache", transformers_versions=">=4.54"),
            Expectation("EXP003", FAILS, "<2.8", error=r"Unsupported|Dynamo|Cache"),
        ),
        ("transformers",),
        "a local Hugging Face whisper checkpoint folder",
    ),
    Case(
        "blip",
        "BLIP-style captioner (transformers Blip, small config, tokenizer in forward)",
        "blip_caption",
        "export_captioner",
        (Expectation("EXP201", FAILS, "<2.6", error=r"frozen storage"), Expectation("EXP202", BAKED)),
        ("transformers",),
        "a local Hugging Face BLIP captioning checkpoint folder (with its tokenizer)",
    ),
    Case(
        "sam2",
        "SAM2 click segmenter (sam2 hiera-tiny, SAM2ImagePredictor)",
        "sam2_segment",
        "export_segmenter",
        (Expectation("EXP001", FAILS, error=r"Expected `mod` to be an instance of `torch\.nn\.Module`"),),
        ("sam2", "hydra", "numpy"),
        "a local sam2.1_hiera_tiny checkpoint (.pt)",
    ),
)


def by_name() -> dict[str, Case]:
    return {case.name: case for case in CASES}
