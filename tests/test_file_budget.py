"""The per-file budget (issue 12): a file over ``--file-timeout`` gets one EXP000 timeout naming
the rule or phase that was running, its worker is replaced and the run goes on (``-j 1`` too);
memory is bounded per worker, huge literals are refused before LibCST sees them, ``-j`` is
capped, and workers never outlive a parent killed by SIGTERM or SIGKILL."""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from export_lint import budget
from export_lint.config import Settings
from export_lint.engine import MAX_LITERAL_ELEMENTS, lint_source
from export_lint.rule import Rule
from export_lint.runner import run_parallel

HAZARD = "import torch\n\n\ndef f(x):\n    return x\n\n\ntorch.export.export(f, (torch.ones(1),))\n"
#: An export call: a file needs the LibCST parse (one that no root reaches and that makes no
#: export call is only checked with ``ast``, which is fast and needs no guard).
EXPORT_CALL = "torch.export.export(torch.nn.Linear(1, 1), (torch.ones(1),))\n"
#: LibCST needs seconds for this (four lists just under the literal limit): native code that no
#: signal interrupts, so the parent has to kill the worker.
SLOW = (
    "import torch\n"
    + "".join(f"x{n} = [" + ",\n".join(map(str, range(MAX_LITERAL_ELEMENTS - 1))) + "]\n" for n in range(4))
    + EXPORT_CALL
)


def check(root: Path, *args: str, timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "export_lint", "check", "--no-cache", "--output-format", "json", *args]
    return subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=timeout, **kwargs)


@pytest.fixture
def tree(tmp_path):
    (tmp_path / "a.py").write_text(HAZARD)
    (tmp_path / "slow.py").write_text(SLOW)
    (tmp_path / "z.py").write_text(HAZARD)
    return tmp_path


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_file_over_its_budget_gets_one_timeout_and_the_run_goes_on(tree, jobs):
    start = time.monotonic()
    done = check(tree, "-j", jobs, "--file-timeout", "0.5", ".")
    assert time.monotonic() - start < 60
    found = sorted((d["filename"], d["code"]) for d in json.loads(done.stdout))
    assert found == [("a.py", "EXP001"), ("slow.py", "EXP000"), ("z.py", "EXP001")], done.stderr
    (timeout,) = [d for d in json.loads(done.stdout) if d["name"] == "timeout"]
    assert "0.5 s" in timeout["message"] and "while parsing" in timeout["message"]
    assert done.returncode == 1 and "Traceback" not in done.stderr


def test_the_budget_can_be_turned_off_and_is_validated(tmp_path):
    (tmp_path / "a.py").write_text(HAZARD)
    assert check(tmp_path, "--file-timeout", "0", "a.py").returncode == 1
    refused = check(tmp_path, "--file-timeout", "soon", "a.py")
    assert refused.returncode == 2 and "seconds" in refused.stderr


def test_the_budget_comes_from_the_config_and_the_flag_overrides_it(tree):
    (tree / "pyproject.toml").write_text("[tool.export-lint]\nfile-timeout = 0.5\n")
    from_config = check(tree, "slow.py")
    assert [d["code"] for d in json.loads(from_config.stdout)] == ["EXP000"], from_config.stderr
    assert "0.5 s" in json.loads(from_config.stdout)[0]["message"]
    overridden = check(tree, "--file-timeout", "0", "slow.py")
    assert json.loads(overridden.stdout) == [], overridden.stderr


@pytest.mark.parametrize("value", ["-1", '"30"', "true", "inf"])
def test_a_bad_file_timeout_in_the_config_is_an_error(tmp_path, value):
    (tmp_path / "pyproject.toml").write_text(f"[tool.export-lint]\nfile-timeout = {value}\n")
    (tmp_path / "a.py").write_text(HAZARD)
    refused = check(tmp_path, "a.py")
    assert refused.returncode == 2 and "`file-timeout` must be a number of CPU seconds" in refused.stderr


def test_the_budget_does_not_change_the_cache_key():
    assert Settings(file_timeout=5.0).cache_key() == Settings().cache_key()


class _Spinning(Rule):
    code = "EXP991"
    name = "spinning"
    message = "never reported"

    def spin(self) -> None:
        while True:
            pass


def test_an_interrupted_rule_is_named():
    rule = _Spinning.__new__(_Spinning)
    with pytest.raises(budget.FileTimeout) as raised, budget.deadline(0.2):
        rule.spin()
    assert raised.value.phase == "rule EXP991 (spinning)"


def _spin_in_rule(bad: str, path: str) -> str:
    if path == bad:
        _Spinning.__new__(_Spinning).spin()
    return path.upper()


def _timed_out(path: str, seconds: float, phase: str) -> str:
    return f"TIMEOUT {path} {seconds:g} {phase}"


_spin_in_rule.on_failure = lambda path, reason: f"FAILED {path}: {reason}"  # type: ignore[attr-defined]
_spin_in_rule.on_timeout = _timed_out  # type: ignore[attr-defined]


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_worker_stuck_in_a_rule_is_stopped_named_and_replaced(jobs):
    paths = [f"f{i:02}.py" for i in range(6)]
    results = run_parallel(functools.partial(_spin_in_rule, "f01.py"), paths, jobs=jobs, timeout=0.5)
    assert results[1] == "TIMEOUT f01.py 0.5 rule EXP991 (spinning)"
    assert [r for i, r in enumerate(results) if i != 1] == [p.upper() for i, p in enumerate(paths) if i != 1]


def _allocate(path: str) -> str:
    if path == "big.py":
        return str(len(bytearray(64 * 2**30)))  # far over the worker's address-space budget
    return path


_allocate.on_memory = lambda path, phase: f"MEMORY {path}"  # type: ignore[attr-defined]
_allocate.on_failure = lambda path, reason: f"FAILED {path}: {reason}"  # type: ignore[attr-defined]


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS")
def test_a_file_over_the_memory_budget_is_reported_and_the_run_goes_on():
    assert run_parallel(_allocate, ["a.py", "big.py", "c.py"], jobs=1, timeout=30) == ["a.py", "MEMORY big.py", "c.py"]


def test_a_huge_literal_is_refused_before_libcst_sees_it():
    source = "import torch\nx = [" + ",".join(["0"] * (MAX_LITERAL_ELEMENTS + 1)) + "]\n" + EXPORT_CALL
    start = time.monotonic()
    (diagnostic,) = lint_source(source, "data.py", Settings(select=("ALL",))).diagnostics
    assert diagnostic.code == "EXP000" and diagnostic.name == "too-complex" and not diagnostic.internal_error
    assert time.monotonic() - start < 10


def test_literals_real_code_has_are_still_linted():
    table = (
        "import torch\nTABLE = {" + ", ".join(f"{i}: {i}" for i in range(1000)) + "}\n\n\n" + HAZARD.split("\n", 1)[1]
    )
    codes = [d.code for d in lint_source(table, "t.py", Settings(select=("EXP001",))).diagnostics]
    assert codes == ["EXP001"]


@pytest.mark.slow
def test_a_2_mb_list_literal_costs_seconds_not_a_minute(tmp_path):
    (tmp_path / "huge.py").write_text(
        "import torch\nx = [" + ",".join(str(i) for i in range(300_000)) + "]\n" + EXPORT_CALL
    )
    start = time.monotonic()
    done = check(tmp_path, "huge.py")
    assert time.monotonic() - start < 30
    assert [d["name"] for d in json.loads(done.stdout)] == ["too-complex"]


def test_jobs_are_capped_at_what_helps():
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert budget.useful_jobs(64, 1000) == cores
    assert budget.useful_jobs(64, 3) == min(3, cores)
    assert budget.useful_jobs(None, 1) == 1


@pytest.mark.skipif(sys.platform != "linux", reason="resource limits")
def test_many_jobs_under_a_small_descriptor_limit(tmp_path):
    import resource

    for n in range(20):
        (tmp_path / f"m{n}.py").write_text(HAZARD)
    done = check(
        tmp_path,
        "-j",
        "64",
        ".",
        preexec_fn=lambda: resource.setrlimit(
            resource.RLIMIT_NOFILE, (128, resource.getrlimit(resource.RLIMIT_NOFILE)[1])
        ),
    )
    assert done.returncode == 1 and len(json.loads(done.stdout)) == 20, done.stderr


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_workers_do_not_outlive_a_killed_parent(tree, sig):
    for n in range(3):
        (tree / f"slow{n}.py").write_text(SLOW)
    command = [sys.executable, "-m", "export_lint", "check", "--no-cache", "-j", "2", "--file-timeout", "600", "."]
    parent = subprocess.Popen(command, cwd=tree, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while len(workers := _children(parent.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(workers) >= 2, "the workers did not start"
        time.sleep(0.5)  # let them start on the slow files
        parent.send_signal(sig)
        parent.wait(timeout=30)
        deadline = time.monotonic() + 10
        while any(map(_alive, workers)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(map(_alive, workers)), "workers outlived their parent"
    finally:
        if parent.poll() is None:
            parent.kill()
        for pid in _children(parent.pid):
            os.kill(pid, signal.SIGKILL)
