"""Verification: run the real torch.export on rule examples and reference models (imports torch lazily)."""

#: The reference cases' names, in order (``cases.CASES`` holds the cases; a test keeps both in step).
#: Here so that building the CLI's ``verify --help`` imports nothing else.
CASE_NAMES = ("mvit", "whisper", "blip", "sam2")
