"""JUnit XML for CI systems that read test reports: one test suite per file, one failed case per diagnostic.

Files without diagnostics are not listed (as in ruff); an empty run is one passing case so that
CI systems see a report rather than none.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from xml.etree import ElementTree

from export_lint.diagnostics import FileResult


def render(results: Sequence[FileResult], **_: object) -> str:
    diagnostics = [d for result in results for d in result.diagnostics]
    root = ElementTree.Element("testsuites", name="export-lint", tests=str(max(1, len(diagnostics))))
    root.set("failures", str(len(diagnostics)))
    root.set("errors", "0")
    for path, group in itertools.groupby(diagnostics, key=lambda d: d.path):
        found = list(group)
        suite = ElementTree.SubElement(
            root, "testsuite", name=path, tests=str(len(found)), failures=str(len(found)), errors="0"
        )
        for d in found:
            case = ElementTree.SubElement(
                suite, "testcase", name=f"org.export-lint.{d.code}", classname=path, line=str(d.start.row)
            )
            case.set("file", path)
            failure = ElementTree.SubElement(case, "failure", message=f"{d.code} {d.message}", type=d.code)
            failure.text = f"line {d.start.row}, col {d.start.column}, {d.message}"
    if not diagnostics:
        suite = ElementTree.SubElement(root, "testsuite", name="export-lint", tests="1", failures="0", errors="0")
        ElementTree.SubElement(suite, "testcase", name="export-lint", classname="export-lint")
    ElementTree.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(root, encoding="unicode") + "\n"
