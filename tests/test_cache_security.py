"""The results cache cannot run code, hide a finding, touch a file outside its folder, hang or
crash (issue 12): each attack of the issue, replayed. Also: results do not go stale when an
imported module appears later or ``PYTHONPATH`` shadows it, and the run key follows the
environment rules read."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from export_lint import cache as cache_module
from export_lint import runner
from export_lint.config import Settings

HAZARD = "import torch\n\n\ndef f(x):\n    return x\n\n\ntorch.export.export(f, (torch.ones(1),))\n"
#: A file whose finding depends on another module: EXP103 needs ``Model.forward``'s parameters.
IMPORTER = (
    "import torch\n\nfrom extlib import Model\n\n"
    'batch = torch.export.Dim("batch")\n'
    'torch.export.export(Model(), (torch.ones(2, 3),), dynamic_shapes={"x": {0: batch}})\n'
)
EXTLIB = "import torch\n\n\nclass Model(torch.nn.Module):\n    def forward(self, {name}):\n        return {name}\n"


@pytest.fixture
def env(tmp_path):
    """Environment for CLI runs: a private user cache folder (the HMAC key lives there)."""
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    environment["XDG_CACHE_HOME"] = str(tmp_path / "user-cache")
    return environment


def check(project: Path, env: dict, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "export_lint", "check", "-q", *args]
    return subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "project"
    root.mkdir()
    (root / "a.py").write_text(HAZARD)
    return root


def cache_file(project: Path) -> Path:
    (found,) = (project / ".export_lint_cache").glob("*.json")
    return found


def listing(folder: Path) -> dict[str, bytes | str]:
    """Every entry under a folder with its bytes (or its link target)."""
    found: dict[str, bytes | str] = {}
    for path in sorted(folder.rglob("*")):
        name = str(path.relative_to(folder))
        found[name] = f"-> {os.readlink(path)}" if path.is_symlink() else path.read_bytes() if path.is_file() else "/"
    return found


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


# -- code and hidden findings ----------------------------------------------------------------


def test_a_planted_pickle_runs_no_code(project, env, tmp_path):
    assert check(project, env).returncode == 1
    name = cache_file(project).stem
    marker = tmp_path / "pwned"
    exploit = pickle.dumps({"x": _Exploit(marker)})
    (project / ".export_lint_cache" / f"{name}.pickle").write_bytes(exploit)
    (project / ".export_lint_cache" / f"{name}.json").write_bytes(exploit)
    done = check(project, env)
    assert done.returncode == 1 and "EXP001" in done.stdout, done.stdout + done.stderr
    assert not marker.exists()
    assert json.loads(cache_file(project).read_bytes().partition(b"\n")[0])["format"] == "export-lint-cache"


def _emptied(data: bytes) -> bytes:
    """The cache file with every entry's diagnostics removed, header (and its MAC) kept."""
    header, _, payload = data.partition(b"\n")
    entries = json.loads(payload)
    for entry in entries.values():
        entry["result"]["diagnostics"] = []
    return header + b"\n" + json.dumps(entries).encode()


def test_edited_entries_cannot_hide_findings(project, env):
    assert check(project, env).returncode == 1
    stored = cache_file(project)
    stored.write_bytes(_emptied(stored.read_bytes()))
    done = check(project, env)
    assert done.returncode == 1 and "EXP001" in done.stdout


def test_a_cache_written_under_another_users_key_is_a_miss(project, env, tmp_path):
    """An attacker can write a well-formed, self-consistent cache with their own key and commit
    it: without this user's secret, it is a miss."""
    attacker = dict(env, XDG_CACHE_HOME=str(tmp_path / "attacker"))
    assert check(project, attacker).returncode == 1
    stored = cache_file(project)
    header, _, _ = stored.read_bytes().partition(b"\n")
    # The attacker re-signs an emptied payload with their own secret.
    secret = bytes.fromhex((tmp_path / "attacker" / "export-lint" / "cache-key").read_text())
    payload = _emptied(stored.read_bytes()).partition(b"\n")[2]
    fields = json.loads(header)
    fields["mac"] = cache_module._mac(secret, b"payload", fields["key"].encode(), payload)
    stored.write_bytes(json.dumps(fields).encode() + b"\n" + payload)
    assert check(project, attacker).returncode == 0  # their own forgery fools only themselves
    done = check(project, env)
    assert done.returncode == 1 and "EXP001" in done.stdout


def test_a_shared_or_foreign_key_file_is_not_trusted(project, env, tmp_path):
    assert check(project, env).returncode == 1
    key = tmp_path / "user-cache" / "export-lint" / "cache-key"
    key.chmod(0o644)
    shutil.rmtree(project / ".export_lint_cache")
    done = check(project, env)
    assert done.returncode == 1 and "cache key" in done.stderr
    assert not (project / ".export_lint_cache").exists()  # uncached: nothing read, nothing written


# -- symlinks, FIFOs, eviction ------------------------------------------------------------------


def test_a_cache_folder_symlinked_elsewhere_is_refused_and_its_target_untouched(project, env, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for name in ("notes.pickle", "model.json", "0123456789abcdef0123456789abcdef.json", ".gitignore"):
        (elsewhere / name).write_text(f"user file {name}\n")
    before = listing(elsewhere)
    (project / ".export_lint_cache").symlink_to(elsewhere)
    for _ in range(2):
        done = check(project, env)
        assert done.returncode == 1 and "EXP001" in done.stdout
        assert "symlink" in done.stderr and "without the cache" in done.stderr
    assert listing(elsewhere) == before


def test_a_cache_folder_symlinked_to_the_project_root_writes_nothing_there(project, env):
    (project / ".export_lint_cache").symlink_to(".")
    before = listing(project)
    done = check(project, env)
    assert done.returncode == 1 and "symlink" in done.stderr
    assert listing(project) == before  # no `*` .gitignore: git still sees every file


def test_dangling_symlinks_inside_the_cache_create_nothing_outside(project, env, tmp_path):
    assert check(project, env).returncode == 1
    name = cache_file(project).name
    folder = project / ".export_lint_cache"
    shutil.rmtree(folder)
    folder.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    for link in ("CACHEDIR.TAG", ".gitignore", name):
        (folder / link).symlink_to(outside / f"planted-{link}")
    done = check(project, env)
    assert done.returncode == 1 and "EXP001" in done.stdout
    assert list(outside.iterdir()) == []
    assert not (folder / name).is_symlink() and (folder / name).is_file()  # replaced, not followed
    assert check(project, env).returncode == 1


def test_a_fifo_in_place_of_the_cache_file_does_not_hang(project, env):
    assert check(project, env).returncode == 1
    stored = cache_file(project)
    stored.unlink()
    os.mkfifo(stored)
    try:
        done = check(project, env, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("a FIFO in the cache folder hangs the run")
    assert done.returncode == 1 and "EXP001" in done.stdout


def test_clean_leaves_a_symlinked_cache_folder_and_its_target_alone(project, env, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("mine\n")
    (project / ".export_lint_cache").symlink_to(elsewhere)
    done = subprocess.run(
        [sys.executable, "-m", "export_lint", "clean"], cwd=project, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0 and "symlink" in done.stderr
    assert (elsewhere / "keep.txt").read_text() == "mine\n"


@pytest.fixture
def private_key(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    return cache_module.user_key()


def test_eviction_deletes_only_files_this_cache_wrote(tmp_path, private_key, monkeypatch):
    folder = tmp_path / ".export_lint_cache"
    for number in range(cache_module.KEEP_RUN_KEYS + 3):
        store = cache_module.Cache(folder, f"{number:032x}", private_key)
        store.put(str(tmp_path / "a.py"), "0" * 64, (), _empty_result(tmp_path))
        store.save()
        os.utime(store.file, (1_000_000 + number, 1_000_000 + number))  # old, oldest first
    outside = tmp_path / "outside.json"
    outside.write_text("user data\n")
    users = {
        "ffffffffffffffffffffffffffffffff.json": "named like ours, not ours\n",
        "notes.json": "notes\n",
        "a.pickle": "pickle\n",
    }
    for name, text in users.items():
        (folder / name).write_text(text)
        os.utime(folder / name, (1, 1))
    (folder / "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee.json").symlink_to(outside)
    newest = cache_module.Cache(folder, "a" * 32, private_key)
    newest.put(str(tmp_path / "a.py"), "0" * 64, (), _empty_result(tmp_path))
    newest.save()
    own = sorted(p.name for p in folder.glob("*.json") if not p.is_symlink() and p.name not in users)
    assert len(own) == cache_module.KEEP_RUN_KEYS and newest.file.name in own
    assert f"{cache_module.KEEP_RUN_KEYS + 2:032x}.json" in own  # the newest of the older ones stay
    for name, text in users.items():
        assert (folder / name).read_text() == text
    assert (folder / "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee.json").is_symlink() and outside.read_text() == "user data\n"


def _empty_result(tmp_path: Path):
    from export_lint.diagnostics import FileResult

    return FileResult(str(tmp_path / "a.py"), [])


# -- entries: validated, bound to the file's hash -------------------------------------------------


def _settings(root: Path) -> Settings:
    return Settings(select=("EXP001",), project_root=str(root))


def _lint(paths: list[str], settings: Settings) -> list[tuple[str, str]]:
    return [(d.path, d.code) for r in runner.lint_files(paths, settings, jobs=1, cache=True) for d in r.diagnostics]


ENTRY_DAMAGE = {
    "result-is-a-string": lambda entry: entry.update(result="unchanged"),
    "no-diagnostics-wrong-digest": lambda entry: (
        entry.update(digest="0" * 64),
        entry["result"].update(diagnostics=[]),
    ),
    "diagnostic-of-wrong-type": lambda entry: entry["result"].update(diagnostics=[{"code": 1}]),
    "location-of-wrong-type": lambda entry: entry["result"]["diagnostics"][0].update(start="1:1"),
    "bool-for-a-row": lambda entry: entry["result"]["diagnostics"][0].update(start=[True, 1]),
    "unknown-applicability": lambda entry: entry["result"]["diagnostics"][0]["fix"].update(applicability="yolo"),
    "stat-garbage": lambda entry: entry.update(stat="now", recorded_ns=None, digest="x"),
    "dependencies-garbage": lambda entry: entry.update(dependencies=[[1, 2]]),
    "entry-is-a-list": lambda entry: entry.clear(),
    "extra-key": lambda entry: entry["result"].update(extra=1),
}


@pytest.mark.parametrize("damage", sorted(ENTRY_DAMAGE))
def test_a_corrupt_but_authentic_entry_is_a_miss_never_a_crash(tmp_path, private_key, monkeypatch, damage):
    """Entries signed with the right key but not in this version's shape (a bug, a schema drift):
    each is relinted, never trusted, never a crash."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.py").write_text(HAZARD)
    settings = _settings(tmp_path)
    assert _lint(["a.py"], settings) == [("a.py", "EXP001")]
    store = cache_module.Cache.open(settings)
    (entry,) = store.entries.values()
    if entry["result"]["diagnostics"][0]["fix"] is None:
        entry["result"]["diagnostics"][0]["fix"] = {"message": "m", "applicability": "safe", "edits": []}
    ENTRY_DAMAGE[damage](entry)
    store.dirty = True
    store.save()
    assert _lint(["a.py"], settings) == [("a.py", "EXP001")]


def test_an_entry_is_bound_to_its_files_bytes(tmp_path, private_key, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.py").write_text("import torch\n")
    settings = _settings(tmp_path)
    assert _lint(["a.py"], settings) == []
    (tmp_path / "a.py").write_text(HAZARD)
    assert _lint(["a.py"], settings) == [("a.py", "EXP001")]


# -- stale results --------------------------------------------------------------------------------


@pytest.fixture
def importer(project, tmp_path):
    (project / "main.py").write_text(IMPORTER)
    for folder, name in (("X", "x"), ("Y", "y")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "extlib.py").write_text(EXTLIB.format(name=name))
    return project


def test_a_module_that_appears_later_is_seen(importer, env, tmp_path):
    """Failed before: `extlib` not found was not recorded, so the clean result stayed cached."""
    assert check(importer, env, "main.py").returncode == 0  # extlib unknown: nothing to say
    assert check(importer, dict(env, PYTHONPATH=str(tmp_path / "Y")), "main.py").returncode == 1
    assert check(importer, env, "main.py").returncode == 0
    (importer / "extlib.py").write_text(EXTLIB.format(name="y"))  # next to the file
    assert check(importer, env, "main.py").returncode == 1


def test_a_pythonpath_entry_that_shadows_a_module_is_seen(importer, env, tmp_path):
    x, y = str(tmp_path / "X"), str(tmp_path / "Y")
    assert check(importer, dict(env, PYTHONPATH=x), "main.py").returncode == 0
    assert check(importer, dict(env, PYTHONPATH=os.pathsep.join([y, x])), "main.py").returncode == 1
    assert check(importer, dict(env, PYTHONPATH=os.pathsep.join([x, y])), "main.py").returncode == 0


def test_the_run_key_follows_installed_versions(tmp_path, monkeypatch):
    settings = _settings(tmp_path)
    before = cache_module.run_key(settings)
    site = tmp_path / "site"
    (site / "transformers-99.0.0.dist-info").mkdir(parents=True)
    monkeypatch.setattr(sys, "path", [str(site), *sys.path])
    changed = cache_module.run_key(settings)
    assert changed != before
    (site / "transformers-99.0.0.dist-info").rename(site / "transformers-99.0.1.dist-info")
    assert cache_module.run_key(settings) not in (before, changed)


def test_the_codec_knows_every_field_of_what_it_stores():
    import dataclasses

    from export_lint import diagnostics

    for name, known in cache_module.CODEC_FIELDS.items():
        assert {f.name for f in dataclasses.fields(getattr(diagnostics, name))} == known, name


def test_every_rule_examples_result_survives_the_cache_unchanged():
    from export_lint.engine import lint_source
    from export_lint.rules import all_rules

    everything = Settings(select=("ALL",))
    for rule in all_rules():
        for example in rule.INVALID:
            result = lint_source(example.code, "ex.py", everything)
            stored = json.loads(json.dumps(cache_module.encode_result(result)))
            assert cache_module.decode_result(stored) == result, rule.code
