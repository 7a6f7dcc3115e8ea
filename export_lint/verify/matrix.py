"""What the torch matrix (``scripts/torch_matrix.py``, ``docs/torch-versions.json``) keys results on.

A rule's proofs depend on its gate and its examples: their hash is recorded beside the proofs of
each release, and the test suite fails when a rule's current hash differs from the recorded one
("rerun scripts/torch_matrix.py"). ``python -m export_lint.verify.matrix`` prints the hashes as JSON.
"""

from __future__ import annotations

import hashlib
import json
import sys


def examples_hash(rule) -> str:
    """A hash of a rule's torch gate and of every example (code, fixed code, target torch, proves, requires_torch)."""
    parts = [rule.torch_versions or ""]
    for example in [*rule.INVALID, *rule.VALID]:
        parts += [
            type(example).__name__,
            example.code,
            getattr(example, "after", None) or "",
            example.torch_version or "",
            str(example.proves),
            example.requires_torch,
        ]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def rule_hashes() -> dict[str, str]:
    from export_lint.rules import all_rules

    return {rule.code: examples_hash(rule) for rule in all_rules()}


if __name__ == "__main__":
    json.dump(rule_hashes(), sys.stdout)
