"""A video classifier exported for any batch size from a batch-of-one example (the cookbook's MViT case).

`export-lint check examples/video_classifier.py` reports EXP102: the batch dimension is marked
dynamic, but the example clip has batch size 1, which torch.export specializes
(`Constraints violated (batch)`). Use an example batch of 2 or more.
"""

import torch
from torch.export import Dim


class VideoClassifier(torch.nn.Module):
    def __init__(self, num_classes: int = 400):
        super().__init__()
        self.stem = torch.nn.Conv3d(3, 8, kernel_size=3, padding=1)
        self.head = torch.nn.Linear(8, num_classes)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        features = self.stem(clips).mean(dim=(2, 3, 4))
        return self.head(features)


def export_classifier() -> torch.export.ExportedProgram:
    model = VideoClassifier().eval()
    clips = torch.randn(1, 3, 16, 112, 112)
    batch = Dim("batch")
    return torch.export.export(model, (clips,), dynamic_shapes={"clips": {0: batch}})
