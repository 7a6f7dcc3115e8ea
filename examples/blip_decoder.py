"""A BLIP-style image-captioning decoder whose forward tokenizes the caption (the cookbook's BLIP case).

`export-lint check --torch-version 2.6 examples/blip_decoder.py` reports EXP201 (the in-place BOS
write on the tokenizer's `input_ids`) and EXP202 (the caption is baked into the graph); the
`decoder_targets` writes are on a computed tensor and are not reported.
"""

import os
import tempfile

import torch
from torch import nn
from transformers import BertTokenizerFast

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]", "a", "picture", "of", "cat", "dog", "on", "the"]


def init_tokenizer(vocab_dir: str) -> BertTokenizerFast:
    """A BERT word-piece tokenizer over a small local vocabulary, with `[DEC]` as its BOS token."""
    path = os.path.join(vocab_dir, "vocab.txt")
    with open(path, "w") as handle:
        handle.write("\n".join(VOCAB))
    tokenizer = BertTokenizerFast(vocab_file=path, bos_token="[DEC]")
    return tokenizer


class PatchEncoder(nn.Module):
    """Image to a sequence of patch embeddings."""

    def __init__(self, width: int, patch: int = 8):
        super().__init__()
        self.patches = nn.Conv2d(3, width, kernel_size=patch, stride=patch)
        self.norm = nn.LayerNorm(width)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.norm(self.patches(image).flatten(2).transpose(1, 2))


class CaptionDecoder(nn.Module):
    """Decodes a caption conditioned on the image, as BLIP's captioning head does in training."""

    def __init__(self, vocab_dir: str, width: int = 32, prompt: str = "a picture of "):
        super().__init__()
        self.tokenizer = init_tokenizer(vocab_dir)
        self.visual_encoder = PatchEncoder(width)
        self.word_embeddings = nn.Embedding(len(VOCAB), width)
        self.text_decoder = nn.TransformerDecoderLayer(width, nhead=2, dim_feedforward=64, batch_first=True)
        self.lm_head = nn.Linear(width, len(VOCAB))
        self.prompt = prompt
        self.prompt_length = len(self.tokenizer(self.prompt).input_ids) - 1

    def forward(self, image: torch.Tensor, caption: str):
        image_embeds = self.visual_encoder(image)
        text = self.tokenizer(caption, padding="longest", truncation=True, max_length=20, return_tensors="pt").to(
            image.device
        )
        text.input_ids[:, 0] = self.tokenizer.bos_token_id

        decoder_targets = text.input_ids.masked_fill(text.input_ids == self.tokenizer.pad_token_id, -100)
        decoder_targets[:, : self.prompt_length] = -100

        hidden = self.text_decoder(self.word_embeddings(text.input_ids), image_embeds)
        return self.lm_head(hidden), decoder_targets


vocab_dir = tempfile.mkdtemp()
model = CaptionDecoder(vocab_dir).eval()
image = torch.randn(1, 3, 32, 32)
caption_input = "a picture of a cat"

exported_program = torch.export.export(
    model,
    args=(image, caption_input),
    strict=False,
)
