"""Image captioning with a BLIP-style decoder, exported for serving: the cookbook's third example.

The hazard as users write it: ``forward`` takes the caption as a string, tokenizes it, and writes
the BOS token into ``input_ids[:, 0]`` in place. Before PyTorch 2.6 the write raised ``cannot
mutate tensors with frozen storage`` (docs/torch-versions.md); on every version the tokenized text becomes a constant of
the exported graph, so the exported program ignores the caption it is called with.
"""

from __future__ import annotations

import torch
from transformers import BertTokenizer, BlipConfig, BlipForConditionalGeneration

#: A small caption vocabulary, so the example needs no download.
CAPTION_WORDS = [
    "[PAD]",
    "[UNK]",
    "[CLS]",
    "[SEP]",
    "[MASK]",
    "[DEC]",
    "a",
    "an",
    "the",
    "picture",
    "photo",
    "of",
    "with",
    "on",
    "in",
    "and",
    "cat",
    "cats",
    "dog",
    "dogs",
    "man",
    "woman",
    "child",
    "sofa",
    "bed",
    "table",
    "grass",
    "street",
    "beach",
    "sitting",
    "standing",
    "running",
    "lying",
    "red",
    "blue",
    "green",
    "white",
    "black",
    "small",
    "large",
    "two",
    "three",
]

#: A BLIP-base-shaped configuration, shrunk so that the example builds and exports in seconds.
SMALL_BLIP = {
    "vision_config": {
        "hidden_size": 192,
        "intermediate_size": 768,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "image_size": 96,
        "patch_size": 16,
    },
    "text_config": {
        "vocab_size": len(CAPTION_WORDS),
        "hidden_size": 192,
        "intermediate_size": 768,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "encoder_hidden_size": 192,
        "bos_token_id": CAPTION_WORDS.index("[DEC]"),
        "pad_token_id": 0,
        "sep_token_id": CAPTION_WORDS.index("[SEP]"),
    },
}


def caption_tokenizer() -> BertTokenizer:
    tokenizer = BertTokenizer(vocab={word: index for index, word in enumerate(CAPTION_WORDS)})
    tokenizer.add_special_tokens({"bos_token": "[DEC]"})
    return tokenizer


class BlipCaptionDecoder(torch.nn.Module):
    """Scores a caption for an image, the way BLIP's ``blip_decoder`` does."""

    def __init__(
        self, blip: BlipForConditionalGeneration, tokenizer: BertTokenizer, prompt: str = "a picture of "
    ) -> None:
        super().__init__()
        self.visual_encoder = blip.vision_model
        self.text_decoder = blip.text_decoder
        self.tokenizer = tokenizer
        self.prompt = prompt

    def forward(self, image: torch.Tensor, caption: str) -> torch.Tensor:
        image_embeds = self.visual_encoder(pixel_values=image).last_hidden_state
        image_atts = torch.ones(image_embeds.size()[:-1], dtype=torch.long, device=image.device)

        text = self.tokenizer(self.prompt + caption, padding="longest", return_tensors="pt").to(image.device)
        text.input_ids[:, 0] = self.tokenizer.bos_token_id

        decoder_output = self.text_decoder(
            input_ids=text.input_ids,
            attention_mask=text.attention_mask,
            encoder_hidden_states=image_embeds,
            encoder_attention_mask=image_atts,
        )
        return decoder_output.logits


def export_captioner(weights: str | None = None, device: str = "cpu") -> torch.export.ExportedProgram:
    """Export the decoder (random weights, or a local Hugging Face BLIP checkpoint folder)."""
    if weights is None:
        blip = BlipForConditionalGeneration(BlipConfig(**SMALL_BLIP))
        tokenizer = caption_tokenizer()
    else:
        blip = BlipForConditionalGeneration.from_pretrained(weights, local_files_only=True)
        tokenizer = BertTokenizer.from_pretrained(weights, local_files_only=True)
        tokenizer.add_special_tokens({"bos_token": "[DEC]"})
    model = BlipCaptionDecoder(blip, tokenizer)
    model.eval().to(device)

    image_size = blip.config.vision_config.image_size
    image = torch.randn(1, 3, image_size, image_size).to(device)
    caption_input = ""

    exported_program = torch.export.export(model, args=(image, caption_input), strict=False)
    return exported_program
