"""Factories for the recall corpus: ``corpus_models.py:<source>__<name>`` returns ``(model, args[, kwargs])``.

Every model is built from its library with random weights (torchvision ``weights=None``,
``timm.create_model(pretrained=False)``, transformers ``AutoModel.from_config`` on a shrunk default
config), put in eval mode and run once eagerly on its input, so that a failure verify reports is an
export failure, not a bad input. A model that cannot be built, is too large for this machine or does
not run eagerly raises ``Skip`` (the corpus records it as skipped, with the reason).
Names are encoded as identifiers: ``-`` is ``_x2d_``, ``.`` is ``_x2e_``.
"""

from __future__ import annotations

import functools
import re

#: Models above this many parameters are skipped (memory: one process under ~3 GiB on this machine).
MAX_PARAMETERS = 100_000_000
SIZE_WORDS = ("atto", "femto", "pico", "nano", "tiny", "mini", "micro", "xxs", "xs", "small", "s", "t", "b0")


class Skip(Exception):
    """The model is not part of the measurement (with why)."""


def encode(name: str) -> str:
    return name.replace("-", "_x2d_").replace(".", "_x2e_")


def decode(name: str) -> str:
    return name.replace("_x2d_", "-").replace("_x2e_", ".")


def _count_on_meta(build) -> int:
    import torch

    try:
        with torch.device("meta"):
            model = build()
    except Exception:
        return 0  # cannot tell without building it: build it for real
    return sum(p.numel() for p in model.parameters())


def _checked(build, make_inputs):
    """Build (after a parameter count on the meta device), eval mode, one eager run."""
    import torch

    count = _count_on_meta(build)
    if count > MAX_PARAMETERS:
        raise Skip(f"too large for this machine: {count / 1e6:.0f}M parameters")
    try:
        model = build().eval()
    except Exception as error:
        raise Skip(
            f"cannot build: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        ) from None
    args, kwargs = make_inputs(model)
    try:
        with torch.no_grad():
            model(*args, **kwargs)
    except Exception as error:
        text = str(error).splitlines()[0] if str(error) else ""
        raise Skip(f"eager run fails on the generic input: {type(error).__name__}: {text}"[:300]) from None
    return model, args, kwargs


# -- torchvision --------------------------------------------------------------------------
def torchvision_kind(name: str) -> str:
    import torchvision.models as models

    for kind in ("detection", "segmentation", "video", "optical_flow"):
        if name in models.list_models(module=getattr(models, kind)):
            return kind
    return "classification"


def torchvision_names() -> list[str]:
    import torchvision.models as models

    found = []
    for kind in ("", "detection", "segmentation", "video", "optical_flow"):
        found += models.list_models(module=getattr(models, kind) if kind else models)
    return sorted(dict.fromkeys(found))


def torchvision_model(name: str):
    import torch
    import torchvision.models as models

    kind = torchvision_kind(name)

    def inputs(_model):
        if kind == "detection":
            return ([torch.rand(3, 128, 128)],), {}
        if kind == "optical_flow":
            return (torch.rand(1, 3, 128, 128), torch.rand(1, 3, 128, 128)), {}
        if kind == "video":
            size = 224 if name.startswith("mvit") else 112
            return (torch.randn(1, 3, 16, size, size),), {}
        size = 299 if name == "inception_v3" else 224 if re.match(r"vit|swin|maxvit", name) else 64
        return (torch.randn(1, 3, size, size),), {}

    def build():
        options = {"weights": None}
        if kind in ("detection", "segmentation"):
            options["weights_backbone"] = None  # the default downloads ImageNet weights
        if name in ("googlenet", "inception_v3"):
            options["init_weights"] = False
        return models.get_model(name, **options)

    return _checked(build, inputs)


# -- timm --------------------------------------------------------------------------------
def _size_rank(name: str) -> int:
    tokens = re.split(r"[_\-.]", name)
    for rank, word in enumerate(SIZE_WORDS):
        if word in tokens:
            return rank
    return len(SIZE_WORDS)


def timm_names(minimum: int = 160) -> list[str]:
    """The fixed rule: per timm model module (family), archs by size word, then name length, then name;
    one per family per round until ``minimum`` are chosen."""
    import timm
    from timm.models import _registry

    families: dict[str, list[str]] = {}
    for name in timm.list_models():
        families.setdefault(_registry._model_to_module[name], []).append(name)
    ordered = {
        family: sorted(names, key=lambda n: (_size_rank(n), len(n), n)) for family, names in sorted(families.items())
    }
    chosen: list[str] = []
    round_index = 0
    while len(chosen) < minimum and any(len(names) > round_index for names in ordered.values()):
        for names in ordered.values():
            if len(names) > round_index:
                chosen.append(names[round_index])
        round_index += 1
    return sorted(chosen)


def timm_model(name: str):
    import timm
    import torch

    def inputs(model):
        channels, height, width = model.pretrained_cfg.get("input_size", (3, 224, 224))
        return (torch.randn(1, channels, height, width),), {}

    return _checked(lambda: timm.create_model(name, pretrained=False), inputs)


# -- transformers ------------------------------------------------------------------------
_SMALL = {
    "num_hidden_layers": 1,
    "num_layers": 1,
    "n_layer": 1,
    "n_layers": 1,
    "num_encoder_layers": 1,
    "num_decoder_layers": 1,
    "encoder_layers": 1,
    "decoder_layers": 1,
    "hidden_size": 32,
    "d_model": 32,
    "n_embd": 32,
    "dim": 32,
    "embed_dim": 32,
    "num_attention_heads": 2,
    "n_head": 2,
    "n_heads": 2,
    "num_heads": 2,
    "encoder_attention_heads": 2,
    "decoder_attention_heads": 2,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "d_kv": 16,
    "intermediate_size": 64,
    "ffn_dim": 64,
    "encoder_ffn_dim": 64,
    "decoder_ffn_dim": 64,
    "d_ff": 64,
    "n_inner": 64,
    "hidden_dim": 64,
    "num_experts": 2,
    "num_local_experts": 2,
    "n_routed_experts": 2,
    "num_experts_per_tok": 1,
    "moe_intermediate_size": 32,
}


def shrink(config) -> None:
    """The generic shrink: 1 layer, hidden 32, 2 heads, small feed-forward; nested configs too."""
    from transformers import PretrainedConfig

    for key, value in list(vars(config).items()):
        if isinstance(value, PretrainedConfig):
            shrink(value)
        elif key in _SMALL and isinstance(value, int) and not isinstance(value, bool) and value > _SMALL[key]:
            setattr(config, key, _SMALL[key])
        elif key in ("depths", "num_layers_per_stage") and isinstance(value, (list, tuple)):
            setattr(config, key, type(value)(1 for _ in value))
        elif key in ("layer_types",) and isinstance(value, list):
            setattr(config, key, value[:1])


def transformers_names() -> list[str]:
    from transformers.models.auto.modeling_auto import MODEL_MAPPING_NAMES

    return sorted(MODEL_MAPPING_NAMES)


def _image_size(config) -> int:
    size = getattr(config, "image_size", None)
    if size is None and getattr(config, "vision_config", None) is not None:
        size = getattr(config.vision_config, "image_size", None)
    if isinstance(size, (list, tuple)):
        size = size[0]
    return int(size or 224)


def transformers_model(model_type: str):
    import torch
    from transformers import AutoConfig, AutoModel

    try:
        config = AutoConfig.for_model(model_type)
        shrink(config)
    except Exception as error:
        raise Skip(f"cannot shrink its config: {type(error).__name__}: {str(error)[:150]}") from None

    def inputs(model):
        name = getattr(model, "main_input_name", "input_ids")
        kwargs = {}
        vocab = getattr(config, "vocab_size", None) or getattr(getattr(config, "text_config", None), "vocab_size", 100)
        if name == "input_ids":
            args = (torch.randint(0, min(int(vocab or 100), 100), (1, 8)),)
            if getattr(config, "is_encoder_decoder", False):
                kwargs["decoder_input_ids"] = torch.randint(0, min(int(vocab or 100), 100), (1, 4))
        elif name == "pixel_values":
            channels = getattr(config, "num_channels", None) or 3
            size = _image_size(config)
            args = (torch.randn(1, channels, size, size),)
        elif name == "input_values":
            args = (torch.randn(1, 16000),)
        elif name == "input_features" and hasattr(config, "num_mel_bins"):
            frames = 2 * int(getattr(config, "max_source_positions", 1500))
            args = (torch.randn(1, config.num_mel_bins, frames),)
            if getattr(config, "is_encoder_decoder", False):
                kwargs["decoder_input_ids"] = torch.randint(0, min(int(vocab or 100), 100), (1, 4))
        else:
            raise Skip(f"main input {name!r} has no generic example in the corpus")
        return args, kwargs

    return _checked(lambda: AutoModel.from_config(config), inputs)


BUILDERS = {"torchvision": torchvision_model, "timm": timm_model, "transformers": transformers_model}


def __getattr__(attribute: str):
    source, sep, encoded = attribute.partition("__")
    if not sep or source not in BUILDERS:
        raise AttributeError(attribute)
    return functools.partial(BUILDERS[source], decode(encoded))
