"""Video classification with MViT, exported once and run at another batch size (the cookbook's MViT case).

Random weights (`weights=None`): no model hub is needed. Export at batch 2, then classify a batch
of 4 clips with the exported program, as the torch.export cookbook does.
"""

import numpy as np
import torch
from torchvision.models.video import mvit_v1_b

torch.manual_seed(0)
model = mvit_v1_b(weights=None).eval()

# Create input batch (2 videos, 16 frames each)
input_frames = torch.randn(2, 16, 224, 224, 3)
input_frames = np.transpose(input_frames, (0, 4, 1, 2, 3))  # [batch, channels, frames, height, width]

# Export with static batch size
exported_program = torch.export.export(
    model,
    (input_frames,),
)

# Inference with a different batch size
input_frames = torch.randn(4, 16, 224, 224, 3)
input_frames = np.transpose(input_frames, (0, 4, 1, 2, 3))
result = exported_program.module()(input_frames)
with torch.no_grad():
    expected = model(input_frames)
torch.testing.assert_close(result, expected, rtol=1e-4, atol=1e-4)
print(f"Success! Output shape: {result.shape}")
