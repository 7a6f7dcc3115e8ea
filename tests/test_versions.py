"""Torch version gates: specifiers, the strict-default cut, and reading the installed torch without importing it."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata

import pytest

from export_lint import versions


@pytest.mark.parametrize(
    ("version", "spec", "expected"),
    [
        ("2.6.0", "<2.7", True),
        ("2.7", "<2.7", False),
        ("2.7.1+cpu", ">=2.7", True),
        ("2.4", ">=2.3,<2.5", True),
        ("2.5", ">=2.3,<2.5", False),
        ("2.14.1", "", True),
    ],
)
def test_specifiers(version, spec, expected):
    assert versions.matches(versions.parse_version(version), spec) is expected


def test_malformed_specifier_is_an_error():
    with pytest.raises(ValueError):
        versions.validate_specifier("~=2.7")


def test_strict_is_the_default_until_torch_2_8():
    # torch 2.7.0's export signature says `strict: bool = True`; 2.8.0's says `strict: bool = False`.
    assert versions.strict_by_default("2.7.1")
    assert not versions.strict_by_default("2.8.0")
    assert not versions.strict_by_default("2.14")


def test_installed_torch_version_agrees_with_package_metadata_and_imports_no_torch():
    try:
        expected = metadata.version("torch")
    except metadata.PackageNotFoundError:
        expected = None
    assert versions.installed_torch_version() == expected
    code = "import sys; from export_lint import versions; versions.installed_torch_version(); print('torch' in sys.modules)"
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
        == "False"
    )
