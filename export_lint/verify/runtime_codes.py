"""Codes of runtime findings: the static code a failure matches, else a runtime-only EXP6xx code.

The EXP6xx family exists only in ``export-lint verify`` reports (no static rule can see these);
``check`` never emits them, so they are not in the rules' codes table.
"""

from __future__ import annotations

import re

#: Runtime-only codes: code -> (name, what it means).
RUNTIME_CODES: dict[str, tuple[str, str]] = {
    "EXP601": ("export-error", "torch.export failed for a reason no static rule covers"),
    "EXP602": ("exported-diverges-from-eager", "the exported program's outputs differ from eager's"),
    "EXP603": ("exported-call-fails", "the exported program raises on inputs its signature accepts"),
    "EXP604": ("missing-fake-kernel", "an operator has no (or a wrong) fake kernel, so export guessed its shapes"),
}

#: Failure categories a runtime finding is sorted into before it gets a code.
DATA_DEPENDENT = "data-dependent"
SPECIALIZED = "specialized"
UNSUPPORTED = "unsupported"
FAKE_KERNEL = "fake-kernel"
OTHER = "other"

_BRANCH = re.compile(r"^\s*(?:if|elif|while|assert)\b|\bif\b.*\belse\b|\b(?:and|or|not)\b|^\s*return\s+bool\(")
_LOOP = re.compile(r"^\s*for\b|\brange\(")
_SPLIT = re.compile(r"\.(?:split|chunk|tensor_split|split_with_sizes)\(|\btorch\.(?:split|chunk|tensor_split)\(")
_CAST = re.compile(r"\b(?:int|float|bool|math\.\w+)\(|\.item\(\)|\.tolist\(\)")


def name_of(code: str) -> str:
    """A runtime-only code's name, else the name of the static rule of that code (from the registry)."""
    if code in RUNTIME_CODES:
        return RUNTIME_CODES[code][0]
    from export_lint.rules import CODES, load

    return load(code).name if code in CODES else "runtime-finding"


def category_of(error_type: str, message: str) -> str:
    """The category of an exception raised by torch.export (type name and message)."""
    if "GuardOnDataDependentSymNode" in error_type or "data-dependent" in message or "data dependent" in message:
        return DATA_DEPENDENT
    if "Constraints violated" in message or "specializ" in message or "ConstraintViolation" in error_type:
        return SPECIALIZED
    if error_type.endswith("Unsupported") or "Unsupported" in error_type:
        return UNSUPPORTED
    return OTHER


def code_for(category: str, line: str, error_type: str = "", message: str = "") -> str:
    """The static code a runtime failure of ``category`` at source ``line`` corresponds to."""
    text = f"{error_type}: {message}"
    if "Expected `mod` to be an instance of `torch.nn.Module`" in text:
        return "EXP001"
    if re.search(r"Found <class '[\w.]*Cache'> in output|DynamicCache|EncoderDecoderCache", text):
        return "EXP002"
    if "frozen storage" in text:
        return "EXP201"
    if re.search(r"\bdynamic_shapes\b.*\b(?:keys|names|argument names)\b|does not match .*signature", text):
        return "EXP103"
    if category == DATA_DEPENDENT:
        if _SPLIT.search(line):
            return "EXP304"
        if _LOOP.search(line):
            return "EXP302"
        if _BRANCH.search(line):
            return "EXP301"
        return "EXP303"
    if category == SPECIALIZED:
        if "round(" in line:
            return "EXP108"
        if _LOOP.search(line):
            return "EXP106"
        if re.search(r"\b(?:int|float)\(", line):
            return "EXP107"
        if re.search(r"\.(?:view|reshape|expand|repeat)\(", line):
            return "EXP105"
        if re.search(r"[<>]=?|==|!=", line):
            return "EXP104"
        return "EXP102" if re.search(r"\b[01]\b", message) else "EXP101"
    if category == UNSUPPORTED:
        if re.search(r"\bnumpy\b|\bnp\.", text + line):
            return "EXP401"
        if re.search(r"\brandom\b|\btime\.", line):
            return "EXP402"
        if re.search(r"\bopen\(", line):
            return "EXP403"
        if "jit" in text or "ScriptModule" in text:
            return "EXP404"
        return "EXP003"
    if category == FAKE_KERNEL:
        return "EXP604"
    if re.search(r"\bnumpy\b", text) and _CAST.search(line) is None:
        return "EXP401"
    return "EXP601"
