"""Video classification with MViT, exported for serving: the torch.export cookbook's first example.

The hazard as users write it: the program is exported with a batch of 2 and then called with a
batch of 4. torch.export specializes every dim it is not told is dynamic, so the call fails.
"""

from __future__ import annotations

import numpy as np
import torch
from torchvision.models.video import mvit_v1_b


def export_classifier(weights: str | None = None, device: str = "cpu") -> torch.export.ExportedProgram:
    """Export MViT-B (random weights, or a local state dict) and run it on a bigger batch."""
    model = mvit_v1_b(weights=None)
    if weights is not None:
        model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    model.eval().to(device)

    # Create input batch (2 videos, 16 frames each)
    input_frames = torch.randn(2, 16, 224, 224, 3)
    input_frames = np.transpose(input_frames, (0, 4, 1, 2, 3)).to(device)  # [batch, channels, frames, height, width]

    exported_program = torch.export.export(model, (input_frames,))

    # Serve a batch of a different size
    input_frames = torch.randn(4, 16, 224, 224, 3)
    input_frames = np.transpose(input_frames, (0, 4, 1, 2, 3)).to(device)
    with torch.no_grad():
        scores = exported_program.module()(input_frames)
    print(f"top classes: {scores.argmax(dim=1).tolist()}")
    return exported_program
