"""The torch.export cookbook's Whisper export, on a random-init whisper-tiny-shaped model (no hub).

`export-lint check examples/whisper_export.py` reports EXP002 (the returned EncoderDecoderCache);
with `--torch-version 2.6` also EXP003 (strict by default before torch 2.8).
"""

import torch
from transformers import WhisperConfig, WhisperForConditionalGeneration

# openai/whisper-tiny's shape, random weights.
WHISPER_TINY = dict(
    vocab_size=51865,
    num_mel_bins=80,
    encoder_layers=4,
    decoder_layers=4,
    d_model=384,
    encoder_attention_heads=6,
    decoder_attention_heads=6,
    encoder_ffn_dim=1536,
    decoder_ffn_dim=1536,
    max_source_positions=1500,
    max_target_positions=448,
    decoder_start_token_id=50258,
)

# Load model
model = WhisperForConditionalGeneration(WhisperConfig(**WHISPER_TINY))

# Create dummy inputs
frames = 2 * model.config.max_source_positions
input_features = torch.randn(1, model.config.num_mel_bins, frames)
attention_mask = torch.ones(1, frames)
decoder_input_ids = torch.tensor([[1, 1, 1, 1]]) * model.config.decoder_start_token_id

model.eval()

# Export with strict mode (the default before torch 2.8)
exported_program = torch.export.export(
    model,
    args=(input_features, attention_mask, decoder_input_ids),
)
