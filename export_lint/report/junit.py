"""JUnit XML for CI systems that read test reports: one test suite per file, one failed case per diagnostic.

Files without diagnostics are not listed (as in ruff); an empty run is one passing case so that
CI systems see a report rather than none.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from xml.etree import ElementTree

from export_lint.diagnostics import FileResult

#: Characters XML 1.0 cannot hold, even escaped (C0 controls but tab, LF and CR; lone surrogates; U+FFFE/U+FFFF).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_text(text: str) -> str:
    return _NOT_XML.sub(lambda match: match.group().encode("unicode_escape").decode("ascii"), text)


def render(results: Sequence[FileResult], **_: object) -> str:
    diagnostics = [d for result in results for d in result.diagnostics]
    root = ElementTree.Element("testsuites", name="export-lint", tests=str(max(1, len(diagnostics))))
    root.set("failures", str(len(diagnostics)))
    root.set("errors", "0")
    for raw_path, group in itertools.groupby(diagnostics, key=lambda d: d.path):
        found = list(group)
        path = _xml_text(raw_path)
        suite = ElementTree.SubElement(
            root, "testsuite", name=path, tests=str(len(found)), failures=str(len(found)), errors="0"
        )
        for d in found:
            case = ElementTree.SubElement(suite, "testcase", name=f"org.export-lint.{d.code}", classname=path)
            if d.cell is None:  # a notebook's rows are a cell's, not the file's
                case.set("line", str(d.start.row))
            case.set("file", path)
            message = _xml_text(d.message)
            failure = ElementTree.SubElement(case, "failure", message=f"{d.code} {message}", type=d.code)
            failure.text = f"{d.cell_location or f'line {d.start.row}, col {d.start.column}'}, {message}"
    if not diagnostics:
        suite = ElementTree.SubElement(root, "testsuite", name="export-lint", tests="1", failures="0", errors="0")
        ElementTree.SubElement(suite, "testcase", name="export-lint", classname="export-lint")
    ElementTree.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(root, encoding="unicode") + "\n"
