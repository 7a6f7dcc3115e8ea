"""The model ``verify_bench.py --target`` measures: torchvision resnet18 (random weights), dynamic batch."""

import torch
import torchvision

BATCH = 4
SIZE = 96


def make():
    batch = torch.export.Dim("batch", min=2, max=8)
    model = torchvision.models.resnet18(weights=None).eval()
    return {"model": model, "args": (torch.randn(BATCH, 3, SIZE, SIZE),), "dynamic_shapes": {"x": {0: batch}}}
