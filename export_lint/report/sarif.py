"""SARIF 2.1.0: one run, one rule entry per code that fired, one result per diagnostic."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

from export_lint import __version__
from export_lint.diagnostics import DOCS_URL, FileResult

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def _rule_descriptor(code: str, name: str) -> dict[str, object]:
    from export_lint.rules import by_code

    rule = by_code().get(code)
    descriptor: dict[str, object] = {"id": code, "name": name}
    if rule is not None:
        descriptor["shortDescription"] = {"text": rule.summary()}
        descriptor["fullDescription"] = {"text": rule.documentation()}
        descriptor["helpUri"] = DOCS_URL.format(code=code)
        descriptor["properties"] = {"torch_versions": rule.torch_versions or "all"}
    return descriptor


def render(results: Sequence[FileResult], **_: object) -> str:
    rules: dict[str, dict[str, object]] = {}
    sarif_results = []
    for result in results:
        for d in result.diagnostics:
            if d.code not in rules:
                rules[d.code] = _rule_descriptor(d.code, d.name)
            physical: dict[str, object] = {"artifactLocation": {"uri": quote(os.fsencode(Path(d.path).as_posix()))}}
            entry: dict[str, object] = {
                "ruleId": d.code,
                "ruleIndex": list(rules).index(d.code),
                "level": "error",
                "message": {"text": d.message},
                "locations": [{"physicalLocation": physical}],
            }
            if d.cell is None:
                physical["region"] = {
                    "startLine": d.start.row,
                    "startColumn": d.start.column,
                    "endLine": d.end.row,
                    "endColumn": d.end.column,
                }
            else:  # a notebook's rows are a cell's: no region of the file, the cell in the message and properties
                entry["message"] = {"text": f"{d.cell_location}: {d.message}"}
                entry["properties"] = {"cell": d.cell, "cellLine": d.start.row, "cellColumn": d.start.column}
            sarif_results.append(entry)
    document = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "export-lint",
                        "version": __version__,
                        "informationUri": "https://github.com/export-lint/export-lint",
                        "rules": list(rules.values()),
                    }
                },
                "results": sarif_results,
            }
        ],
    }
    return json.dumps(document, indent=2) + "\n"
