"""Verification: run the real torch.export on rule examples and reference models (imports torch lazily)."""
