"""An audio denoiser whose forward branches on tensor values and counts its calls in Python.

`export-lint check examples/audio_denoiser.py` reports EXP301 (`if noisy.abs().max() > 1.0:` reads
tensor data to pick a Python branch; torch 2.14.1 raises `GuardOnDataDependentSymNode` in
non-strict export and `Unsupported: Data-dependent branching` in strict export) and EXP205
(`self.calls += 1` runs once at export time, never in the exported program).
"""

import torch


class Denoiser(torch.nn.Module):
    def __init__(self, channels: int = 16):
        super().__init__()
        self.encode = torch.nn.Conv1d(1, channels, kernel_size=5, padding=2)
        self.decode = torch.nn.Conv1d(channels, 1, kernel_size=5, padding=2)
        self.calls = 0

    def forward(self, noisy: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if noisy.abs().max() > 1.0:
            noisy = noisy / noisy.abs().max()
        return self.decode(torch.relu(self.encode(noisy)))


if __name__ == "__main__":
    program = torch.export.export(Denoiser().eval(), (torch.randn(2, 1, 16000),))
    print(program)
