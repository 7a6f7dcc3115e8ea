"""A SAM2-style image predictor that exports its own prediction method (the cookbook's SAM2 case)."""

import torch


class ImagePredictor:
    def __init__(self, sam_model: torch.nn.Module, mask_threshold: float = 0.0):
        self.model = sam_model
        self.mask_threshold = mask_threshold

    def _predict(self, point_coords, point_labels, multimask_output: bool = True):
        embeddings = self.model(point_coords)
        return embeddings * point_labels.unsqueeze(-1)

    def predict(self, point_coords, point_labels, multimask_output: bool = True):
        ep = torch.export.export(
            self._predict,
            args=(point_coords, point_labels, multimask_output),
            strict=False,
        )
        return ep.module()(point_coords, point_labels, multimask_output)
