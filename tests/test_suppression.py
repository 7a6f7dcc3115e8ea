"""``# noqa`` in all its forms, ``check --add-noqa``, and EXP900 unused-noqa, through the installed CLI."""

from __future__ import annotations

import json

from test_cli import run, write

from export_lint.suppression import add_noqa, parse_suppressions

PREAMBLE = "import torch\n\n\ndef f(x):\n    return x\n\n\n"
CALL = "torch.export.export(f, (torch.ones(1),))"


def rows(stdout: str, code: str = "EXP001") -> list[int]:
    return [d["location"]["row"] for d in json.loads(stdout) if d["code"] == code]


def test_line_noqa_bare_and_with_codes(tmp_path):
    lines = [
        f"{CALL}  # noqa",  # 8: bare: suppressed
        f"{CALL}  # noqa: EXP001",  # 9: suppressed
        f"{CALL}  # noqa: E501",  # 10: another code: reported
        f"{CALL}  # NOQA:EXP001,E501",  # 11: case and spacing variants: suppressed
        f"{CALL}",  # 12: reported
        "torch.export.export(\n    f,  # noqa: EXP001\n    (torch.ones(1),),\n)",  # 13-16: on the reported line
        "torch.export.export(  # noqa: EXP001\n    f,\n    (torch.ones(1),),\n)",  # 17-20: not the reported line
        f"x = '{CALL}  # noqa'; {CALL}",  # 21: a noqa inside a string is not a comment
    ]
    write(tmp_path, {"m.py": PREAMBLE + "\n".join(lines) + "\n"})
    result = run("check", "--select", "EXP001", "--output-format", "json", cwd=tmp_path)
    assert rows(result.stdout) == [10, 12, 18, 21]


def test_file_level_noqa_silences_the_file(tmp_path):
    write(tmp_path, {"quiet.py": "# export-lint: noqa\n" + PREAMBLE + CALL + "\n", "loud.py": PREAMBLE + CALL + "\n"})
    result = run("check", "--output-format", "json", cwd=tmp_path)
    assert {d["filename"] for d in json.loads(result.stdout)} == {"loud.py"}


ADD_NOQA_BEFORE = PREAMBLE + (
    f"{CALL}\n"
    f"{CALL}  # noqa:E501\n"
    f"{CALL}    # type: ignore\n"
    f"y = 1; {CALL}  # noqa: EXP001\n"
    f'z = """\n{CALL}"""; {CALL}\n'
)
ADD_NOQA_AFTER = PREAMBLE + (
    f"{CALL}  # noqa: EXP001\n"
    f"{CALL}  # noqa:E501, EXP001\n"
    f"{CALL}    # type: ignore  # noqa: EXP001\n"
    f"y = 1; {CALL}  # noqa: EXP001\n"
    f'z = """\n{CALL}"""; {CALL}  # noqa: EXP001\n'
)


def test_add_noqa_merges_with_existing_comments_and_keeps_formatting(tmp_path):
    write(tmp_path, {"m.py": ADD_NOQA_BEFORE})
    added = run("check", "--select", "EXP001", "--add-noqa", cwd=tmp_path)
    assert (added.returncode, added.stdout) == (0, "Added 4 noqa directives.\n")
    assert (tmp_path / "m.py").read_text() == ADD_NOQA_AFTER
    assert run("check", "--select", "EXP001,EXP900", cwd=tmp_path).returncode == 0
    again = run("check", "--select", "EXP001", "--add-noqa", cwd=tmp_path)
    assert again.stdout == "Added 0 noqa directives.\n"
    assert (tmp_path / "m.py").read_text() == ADD_NOQA_AFTER


UNUSED_BEFORE = PREAMBLE + (
    "a = torch.ones(1)  # noqa: EXP001\n"  # 8: unused
    "b = torch.ones(1)  # noqa: E501, EXP001 keep this line long\n"  # 9: unused EXP001, E501 kept
    f"{CALL}  # noqa: EXP001\n"  # 10: used
    "c = torch.ones(1)  # noqa: EXP999\n"  # 11: unknown code
    "d = torch.ones(1)  # noqa: F401\n"  # 12: another tool's code
    "e = torch.ones(1)  # noqa\n"  # 13: bare
)
UNUSED_AFTER = PREAMBLE + (
    "a = torch.ones(1)\n"
    "b = torch.ones(1)  # noqa: E501 keep this line long\n"
    f"{CALL}  # noqa: EXP001\n"
    "c = torch.ones(1)\n"
    "d = torch.ones(1)  # noqa: F401\n"
    "e = torch.ones(1)  # noqa\n"
)


def test_unused_noqa_is_reported_and_fixed_leaving_other_tools_alone(tmp_path):
    write(tmp_path, {"m.py": UNUSED_BEFORE})
    result = run("check", "--select", "EXP001,EXP900", "--output-format", "json", cwd=tmp_path)
    found = {d["location"]["row"]: d for d in json.loads(result.stdout)}
    assert sorted(found) == [8, 9, 11]
    assert found[8]["message"] == "Unused `noqa` directive (unused: `EXP001`)"
    assert found[11]["message"] == "Unused `noqa` directive (unknown: `EXP999`)"
    assert found[8]["location"] == {"row": 8, "column": 20}
    assert all(d["code"] == "EXP900" and d["fix"]["applicability"] == "safe" for d in found.values())
    fixed = run("fix", "--apply", "--select", "EXP001,EXP900", cwd=tmp_path)
    assert fixed.returncode == 0, fixed.stdout
    assert (tmp_path / "m.py").read_text() == UNUSED_AFTER


def test_noqa_for_a_rule_ignored_for_the_file_is_not_unused(tmp_path):
    config = '[tool.export-lint]\n[tool.export-lint.per-file-ignores]\n"legacy/*" = ["EXP001"]\n'
    write(tmp_path, {"pyproject.toml": config, "legacy/m.py": PREAMBLE + "a = torch.ones(1)  # noqa: EXP001\n"})
    assert run("check", "--select", "EXP001,EXP900", cwd=tmp_path).returncode == 0


# -- in-process units -------------------------------------------------------------------------


def test_parse_suppressions_reads_comments_only():
    text = "x = 1  # noqa: EXP001, E501\ny = '# noqa'\nz = 2  # NoQA\n"
    found = parse_suppressions(text)
    assert not found.file_exempt
    assert sorted(found.by_row) == [1, 3]
    assert found.by_row[1].code_list == ("EXP001", "E501")
    assert found.suppresses("EXP001", 1) and not found.suppresses("EXP002", 1)
    assert found.suppresses("EXP002", 3)
    assert not found.suppresses("EXP001", 2)


def test_add_noqa_leaves_lines_it_cannot_comment():
    text = "x = (1 +\\\n     2)\ns = '''a\nb'''\n"
    assert add_noqa(text, {1: ["EXP001"], 3: ["EXP001"]}) == (text, 0)


def test_file_level_noqa_must_be_the_whole_word():
    assert parse_suppressions("# export-lint: noqa\nx = 1\n").file_exempt
    assert not parse_suppressions("# export-lint: noqa-but-not-really\nx = 1\n").file_exempt
    assert not parse_suppressions("# export-lint: noqa_later\nx = 1\n").file_exempt
