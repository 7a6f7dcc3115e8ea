"""Promptable segmentation with SAM2, exported for serving: the torch.export cookbook's fourth example.

The hazard as users write it: ``export_predict`` exports the bound method ``self._predict``.
torch.export only exports ``nn.Module`` instances, so the call fails before tracing starts.
"""

from __future__ import annotations

import numpy as np
import torch
from sam2.build_sam import build_sam2
from sam2.sam2_image_predictor import SAM2ImagePredictor

#: A configuration packaged with sam2 (Hiera-tiny image encoder).
SAM2_CONFIG = "configs/sam2.1/sam2.1_hiera_t.yaml"


class ClickSegmenter:
    """Segments the object under a few clicks, on an image set once."""

    def __init__(self, predictor: SAM2ImagePredictor) -> None:
        self.predictor = predictor
        self.model = predictor.model

    def set_image(self, image: np.ndarray) -> None:
        self.predictor.set_image(image)

    def _predict(self, point_coords: torch.Tensor, point_labels: torch.Tensor):
        masks, scores, low_res_masks = self.predictor._predict(
            point_coords, point_labels, None, None, multimask_output=True, return_logits=True
        )
        return masks, scores, low_res_masks

    def export_predict(self, point_coords: np.ndarray, point_labels: np.ndarray) -> torch.export.ExportedProgram:
        _, unnorm_coords, labels, _ = self.predictor._prep_prompts(
            point_coords, point_labels, None, None, normalize_coords=True
        )
        return torch.export.export(self._predict, args=(unnorm_coords, labels), strict=False)


def export_segmenter(weights: str | None = None, device: str = "cpu") -> torch.export.ExportedProgram:
    """Export the prompt decoder of SAM2 (random weights, or a local Hiera-tiny checkpoint)."""
    model = build_sam2(SAM2_CONFIG, ckpt_path=weights, device=device)
    segmenter = ClickSegmenter(SAM2ImagePredictor(model))
    image = np.random.default_rng(0).integers(0, 256, size=(1024, 1024, 3), dtype=np.uint8)
    segmenter.set_image(image)
    clicks = np.array([[400.0, 500.0], [600.0, 500.0]])
    return segmenter.export_predict(clicks, np.array([1, 0]))
