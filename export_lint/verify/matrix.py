"""What the torch matrix (``scripts/torch_matrix.py``, ``docs/torch-versions.json``) keys proofs on.

Each example is known by a hash of what its proofs depend on: its scripts, its target torch, and
for an INVALID example the rule's gate (inside the gate it must fail, outside it must export). An
example's ``requires_torch`` says on which releases it must have been proven; changing it needs a
rerun only on the releases it adds. The test suite fails when a release lacks the proof of an
example that applies there ("rerun scripts/torch_matrix.py"). ``python -m export_lint.verify.matrix``
prints every rule's example hashes, by label, as JSON.
"""

from __future__ import annotations

import hashlib
import json
import sys

from export_lint import versions


def example_hash(rule, example) -> str:
    """A hash of one example's scripts, target torch and (INVALID) the rule's gate."""
    invalid = hasattr(example, "after")
    parts = [
        "INVALID" if invalid else "VALID",
        example.code,
        (example.after or "") if invalid else "",
        example.torch_version or "",
        (rule.torch_versions or "") if invalid else "",
    ]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def labelled_examples(rule) -> list[tuple[str, object]]:
    """``("INVALID[0]", example)``, ... in the order ``verify --rules`` labels them."""
    return [
        *((f"INVALID[{i}]", example) for i, example in enumerate(rule.INVALID)),
        *((f"VALID[{i}]", example) for i, example in enumerate(rule.VALID)),
    ]


def applies(example, release: str) -> bool:
    """Whether ``verify --rules`` proves the example on this torch release."""
    if not example.proves:
        return False
    return not example.requires_torch or versions.matches(versions.parse_version(release), example.requires_torch)


def example_table(release: str | None = None) -> dict[str, dict[str, dict]]:
    """``{code: {label: {"hash": ..., "applies": ...}}}`` for a release (default: the installed torch)."""
    from export_lint.rules import all_rules

    release = release or versions.installed_torch_version() or versions.NEWEST_KNOWN_TORCH
    return {
        rule.code: {
            label: {"hash": example_hash(rule, example), "applies": applies(example, release)}
            for label, example in labelled_examples(rule)
        }
        for rule in all_rules()
    }


if __name__ == "__main__":
    json.dump(example_table(), sys.stdout)
