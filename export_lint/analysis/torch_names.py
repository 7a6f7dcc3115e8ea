"""Names torch gives its export entry points, module base classes and autocast contexts (no torch import)."""

from __future__ import annotations

#: Callables that trace their first argument with torch.export.
EXPORT_FUNCTIONS = frozenset(
    {
        "torch.export.export",
        "torch.export.export_for_training",
        "torch.export._trace._export",
    }
)

#: Base classes known to be ``torch.nn.Module`` subclasses without reading their source.
KNOWN_MODULE_BASES = frozenset(
    {
        "torch.nn.Module",
        "torch.nn.modules.module.Module",
        "transformers.PreTrainedModel",
        "transformers.modeling_utils.PreTrainedModel",
    }
)

#: Context managers that open an autocast region.
AUTOCAST_CONTEXTS = frozenset(
    {
        "torch.autocast",
        "torch.amp.autocast",
        "torch.amp.autocast_mode.autocast",
        "torch.cpu.amp.autocast",
        "torch.cuda.amp.autocast",
    }
)
