"""Speech recognition with Whisper, exported for serving: the torch.export cookbook's second example.

The hazard as users write it: a transformers encoder-decoder model exported with its KV cache on,
in export's default mode (strict before torch 2.8, non-strict since). The model returns an
``EncoderDecoderCache``, which torch.export cannot flatten in either mode.
"""

from __future__ import annotations

import torch
from transformers import WhisperConfig, WhisperForConditionalGeneration

#: whisper-tiny's architecture; random weights unless a local checkpoint is given.
WHISPER_TINY = {
    "vocab_size": 51865,
    "num_mel_bins": 80,
    "d_model": 384,
    "encoder_layers": 4,
    "decoder_layers": 4,
    "encoder_attention_heads": 6,
    "decoder_attention_heads": 6,
    "encoder_ffn_dim": 1536,
    "decoder_ffn_dim": 1536,
    "max_source_positions": 1500,
    "max_target_positions": 448,
    "pad_token_id": 50257,
    "bos_token_id": 50257,
    "eos_token_id": 50257,
    "decoder_start_token_id": 50258,
}


def export_transcriber(weights: str | None = None, device: str = "cpu") -> torch.export.ExportedProgram:
    """Export whisper-tiny (random weights, or a local Hugging Face checkpoint folder)."""
    if weights is None:
        model = WhisperForConditionalGeneration(WhisperConfig(**WHISPER_TINY))
    else:
        model = WhisperForConditionalGeneration.from_pretrained(weights, local_files_only=True)

    # Create dummy inputs: 30 s of 80-bin log-mel features and 4 decoder tokens
    input_features = torch.randn(1, 80, 3000, device=device)
    attention_mask = torch.ones(1, 3000, device=device)
    decoder_input_ids = torch.tensor([[1, 1, 1, 1]], device=device) * model.config.decoder_start_token_id

    model.eval().to(device)

    # Export with the default mode
    exported_program = torch.export.export(
        model,
        args=(input_features, attention_mask, decoder_input_ids),
    )
    return exported_program
