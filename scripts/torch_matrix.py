"""Prove every rule's claims (and the reference models) on every supported torch release.

    python scripts/torch_matrix.py                       # build/reuse venvs, verify, write docs
    python scripts/torch_matrix.py --versions 2.5.1,2.6.0
    python scripts/torch_matrix.py --skip-models         # rule proofs only
    python scripts/torch_matrix.py --render              # only regenerate docs/torch-versions.*

For each release (the latest patch of every minor from 2.4 to 2.15) a venv outside the
repository (``--venvs``, default ``/work/torch-venvs``) gets that torch, a transformers release
that supports it, the matching torchvision, sam2 where it installs, and this checkout of
export-lint (editable, ``--no-deps``). In it, ``export-lint verify --rules --json`` proves every
rule's examples, and ``export-lint verify --model NAME --json`` runs each reference model whose
libraries are installed. Results are cached per version under ``--results``: a rule is re-proved
only when its examples or gate changed (their hash is recorded), a model only when its fixture
did. Venvs are reused across runs; before a build the oldest venv is deleted while more than
``--keep`` exist or free space is under ``--min-free-gb``. One version at a time, progress on
stdout. The torch of the interpreter running this script is used as-is for its own version.

``docs/torch-versions.json`` and ``docs/torch-versions.md`` are generated from the results; the
test suite fails when a rule's gate or examples no longer match what the JSON recorded.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

#: torch release -> the transformers requirement installed beside it (a release that supports it).
RELEASES: dict[str, str] = {
    "2.4.1": "transformers>=4.49,<4.50",
    "2.5.1": "transformers>=4.49,<4.50",
    **{
        release: "transformers>=5.24,<5.25"  # the machine's own; it needs torch >= 2.6
        for release in ("2.6.0", "2.7.1", "2.8.0", "2.9.1", "2.10.0", "2.11.0", "2.12.1", "2.13.0", "2.14.1", "2.15.0")
    },
}
#: Installed best-effort after torch (sam2 needs torch >= 2.5.1).
EXTRAS = ("sam2>=1.0", "hydra-core")
BASE = ("libcst>=1.1", "numpy", "wheel", "setuptools>=68")  # wheel, setuptools: to build sam2
REPORTED_PACKAGES = ("torch", "torchvision", "transformers", "sam2", "hydra-core", "numpy", "libcst")
READY = ".matrix-ready.json"
#: The copy of export-lint the venvs import (see sync_snapshot).
SNAPSHOT = Path(os.environ.get("EXPORT_LINT_MATRIX_SNAPSHOT", "/work/torch-venvs/export-lint"))
DOCS_JSON = REPO / "docs" / "torch-versions.json"
DOCS_MD = REPO / "docs" / "torch-versions.md"
#: venvs a verify is running in or still to run in (never deleted to make room).
IN_USE: set[Path] = set()
PROTECTED: set[Path] = set()
#: Seconds between looks while every venv is still needed.
WAIT_S = 10.0


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# -- what a result depends on ---------------------------------------------------------------
def sync_snapshot() -> None:
    """Copy this checkout's package into SNAPSHOT (rules inside it), which every venv imports.

    The venvs never import the working tree itself, so an edit in progress cannot change a run
    half-way; the hashes recorded with a run are computed in the venv from the same snapshot.
    """
    target = SNAPSHOT / "export_lint"
    fresh = SNAPSHOT / "export_lint.new"
    shutil.rmtree(fresh, ignore_errors=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO / "export_lint", fresh, ignore=ignore)
    shutil.rmtree(fresh / "rules", ignore_errors=True)
    shutil.copytree(REPO / "rules", fresh / "rules", ignore=ignore)
    shutil.rmtree(target, ignore_errors=True)
    fresh.rename(target)


def link_snapshot(python: Path) -> None:
    """Make the venv import export-lint from SNAPSHOT (a .pth file; no other install of it)."""
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
        cwd="/tmp",
    ).stdout.strip()
    Path(site, "export_lint_matrix.pth").write_text(f"{SNAPSHOT}\n")


def snapshot_examples(python: Path) -> dict[str, dict[str, dict]]:
    """Every example's hash and whether it applies on the venv's torch, from the snapshot."""
    out = subprocess.run(
        [str(python), "-m", "export_lint.verify.matrix"], capture_output=True, text=True, check=True, cwd="/tmp"
    ).stdout
    return json.loads(out)


def case_hashes() -> dict[str, str]:
    from export_lint.verify.cases import CASES

    folder = SNAPSHOT / "export_lint" / "verify" / "cases"  # what the venvs run
    common = (folder / "__init__.py").read_bytes()
    return {
        case.name: hashlib.sha256(common + (folder / case.path.name).read_bytes()).hexdigest()[:16] for case in CASES
    }


# -- venvs --------------------------------------------------------------------------------
def free_gb(path: Path) -> float:
    return shutil.disk_usage(path).free / 2**30


def built_venvs(root: Path) -> list[Path]:
    """Built venvs, oldest first."""
    found = [p for p in root.glob("torch-*") if (p / READY).exists()]
    return sorted(found, key=lambda p: (p / READY).stat().st_mtime)


def make_room(root: Path, keep: int, min_free: float, protect: set[Path]) -> None:
    """Delete the oldest venvs not protected while more than ``keep`` exist or free space is low;
    when only protected ones are left, wait for the verify loop to release one."""
    waited = False
    while True:
        # IN_USE and PROTECTED are read afresh each time: the verify loop releases venvs meanwhile
        venvs = [p for p in built_venvs(root) if p not in protect and p not in PROTECTED and p not in IN_USE]
        low = free_gb(root) < min_free
        if len(built_venvs(root)) < keep and not low:
            return
        if not venvs:
            if not waited:
                log(f"{free_gb(root):.1f} GB free, {len(built_venvs(root))} venvs: waiting for one to be verified")
                waited = True
            time.sleep(WAIT_S)
            continue
        log(f"deleting {venvs[0]} ({free_gb(root):.1f} GB free, {len(built_venvs(root))} venvs)")
        shutil.rmtree(venvs[0], ignore_errors=True)


def _pip_env() -> dict[str, str]:
    env = {**os.environ, "PIP_CONFIG_FILE": "/dev/null", "PIP_CONSTRAINT": "", "PIP_NO_CACHE_DIR": "1"}
    env["SAM2_BUILD_CUDA"] = "0"
    env["PIP_FIND_LINKS"] = ""  # not the machine's local CPU-only wheel: torchvision from PyPI needs the CUDA torch
    return env


def pip(python: Path, *args: str, log_file) -> int:
    env = _pip_env()
    cmd = ["nice", "-n", "10", str(python), "-m", "pip", "install", "--no-cache-dir", "--no-compile", "-q", *args]
    log_file.write(f"$ {' '.join(cmd)}\n")
    log_file.flush()
    return subprocess.run(cmd, env=env, stdout=log_file, stderr=subprocess.STDOUT, cwd="/tmp").returncode


def installed(python: Path) -> dict[str, str]:
    out = subprocess.run(
        [str(python), "-m", "pip", "list", "--format=json"], capture_output=True, text=True, cwd="/tmp"
    ).stdout
    versions = {item["name"].lower(): item["version"] for item in json.loads(out or "[]")}
    return {name: versions[name] for name in REPORTED_PACKAGES if name in versions}


def system_torch() -> str | None:
    """The torch of the machine's own Python (base of this interpreter), without its local label."""
    code = "import importlib.metadata as m; print(m.version('torch'))"
    out = subprocess.run([sys._base_executable, "-c", code], capture_output=True, text=True, cwd="/tmp").stdout
    return out.strip().split("+")[0] or None


def ensure_venv(version: str, args, fresh: bool = False) -> Path:
    """The python of a venv with torch ``version``; built (or reused) on demand.

    A venv cloned from another one whose torch then does not import (2.13.0 cloned from 2.7.1 kept
    2.7.1's ``nvidia-nccl-cu12``: ``undefined symbol: ncclCommResume``) is built again from scratch
    (``fresh``).
    """
    venv = args.venvs / f"torch-{version}"
    python = venv / "bin" / "python"
    if (venv / READY).exists():
        IN_USE.add(venv)
        return python
    make_room(args.venvs, args.keep, args.min_free_gb, protect={venv})
    shutil.rmtree(venv, ignore_errors=True)
    log(f"torch {version}: building {venv} ({free_gb(args.venvs):.1f} GB free)")
    started = time.time()
    system = system_torch() == version
    source = None if system or fresh else _clone_source(args.venvs, protect=venv)
    if source is not None:
        clone(source, venv)
        log(f"torch {version}: {venv.name} starts as a hard-linked copy of {source.name}")
    else:
        base = [sys.executable, "-m", "venv"]
        if system:
            base = [sys._base_executable, "-m", "venv", "--system-site-packages"]
        subprocess.run([*base, str(venv)], check=True)
    constraints = venv / "constraints.txt"
    with open(venv / "build.log", "w") as log_file:
        if system:  # the machine's own torch and libraries: nothing to download
            log_file.write("system site-packages\n")
            return _ready(venv, python, started)
        rc = pip(python, f"torch=={version}", "torchvision", RELEASES[version], *BASE, log_file=log_file)
        if rc:
            raise RuntimeError(f"torch {version}: pip failed, see {venv / 'build.log'}")
        have = installed(python)
        constraints.write_text(f"torch=={have['torch']}\ntorchvision=={have.get('torchvision', '0')}\n")
        # sam2 is an sdist that builds against the installed torch (no CUDA extension, no isolation)
        if pip(python, "--no-build-isolation", "-c", str(constraints), *EXTRAS, log_file=log_file):
            log(f"torch {version}: {' '.join(EXTRAS)} did not install (see {venv / 'build.log'})")
        drop_broken(python, log_file)
    problem = torch_import_error(python)
    if problem and source is not None:
        log(f"torch {version}: torch does not import in the clone ({problem}); building it from scratch")
        return ensure_venv(version, args, fresh=True)
    if problem:
        raise RuntimeError(f"torch {version}: torch does not import: {problem}")
    return _ready(venv, python, started)


def torch_import_error(python: Path) -> str:
    """The last line of the error ``import torch`` raises in the venv, or ``""`` when it imports."""
    proc = subprocess.run([str(python), "-c", "import torch"], capture_output=True, text=True, cwd="/tmp")
    lines = proc.stderr.strip().splitlines()
    return (lines[-1] if lines else f"exit {proc.returncode}") if proc.returncode else ""


def drop_broken(python: Path, log_file) -> None:
    """Uninstall the extras ``pip check`` finds broken: a venv cloned from a newer one keeps its
    sam2, which needs torch >= 2.5.1, when pip cannot install sam2 for this torch."""
    report = subprocess.run(
        [str(python), "-m", "pip", "check"], capture_output=True, text=True, cwd="/tmp", env=_pip_env()
    ).stdout
    extras = {extra.split(">")[0].split("=")[0].split("<")[0] for extra in EXTRAS}
    broken = sorted({line.split(" ")[0].lower() for line in report.splitlines() if line.strip()} & extras)
    if broken:
        log_file.write(f"pip check: {report}\nuninstalling {' '.join(broken)}\n")
        cmd = [str(python), "-m", "pip", "uninstall", "-y", "-q", *broken]
        subprocess.run(cmd, env=_pip_env(), stdout=log_file, stderr=subprocess.STDOUT, cwd="/tmp")


def _clone_source(root: Path, protect: Path) -> Path | None:
    """The newest built venv with its own packages (not the machine's), to start a new one from."""
    own = [p for p in built_venvs(root) if p != protect and not _system_site(p)]
    return own[-1] if own else None


def _system_site(venv: Path) -> bool:
    config = venv / "pyvenv.cfg"
    return config.exists() and "include-system-site-packages = true" in config.read_text()


def clone(source: Path, venv: Path) -> None:
    """A hard-linked copy of another venv: pip then replaces only the packages whose version changes
    (releases next to each other share most CUDA libraries), and pip never edits an installed file in
    place. The files this script writes are unlinked first, and the scripts' shebangs rewritten."""
    subprocess.run(["cp", "-al", str(source), str(venv)], check=True)
    for name in (READY, "build.log", "constraints.txt"):
        (venv / name).unlink(missing_ok=True)
    for pth in venv.glob("lib/python*/site-packages/export_lint_matrix.pth"):
        pth.unlink()
    for script in (venv / "bin").iterdir():
        if script.is_symlink() or not script.is_file():
            continue
        try:
            text = script.read_text()
        except UnicodeDecodeError:
            continue
        if str(source) in text:
            script.unlink()
            script.write_text(text.replace(str(source), str(venv)))
            script.chmod(0o755)
    config = venv / "pyvenv.cfg"
    text = config.read_text().replace(str(source), str(venv))
    config.unlink()
    config.write_text(text)


def _ready(venv: Path, python: Path, started: float) -> Path:
    (venv / READY).write_text(json.dumps({"packages": installed(python), "seconds": round(time.time() - started)}))
    IN_USE.add(venv)
    log(f"{venv.name}: built in {time.time() - started:.0f}s: {installed(python)}")
    return python


# -- runs ---------------------------------------------------------------------------------
def run_verify(python: Path, argv: list[str], out: Path, log_path: Path, timeout: int) -> tuple[int, str]:
    cmd = ["nice", "-n", "10", str(python), "-m", "export_lint", "verify", *argv, "--no-progress", "--json", str(out)]
    with open(log_path, "w") as handle:
        try:
            proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=handle, text=True, cwd="/tmp", timeout=timeout)
        except subprocess.TimeoutExpired:
            return 124, f"timed out after {timeout}s"
        handle.write(proc.stdout)
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    return proc.returncode, lines[-1] if lines else ""


#: Facts about each torch's API that gates and fixes rely on, read in its venv.
FACTS = """
import inspect, json, torch, torch.export, torch._export
export = torch.export
print(json.dumps({
    "export strict default": inspect.signature(export.export).parameters["strict"].default,
    "torch.export.Dim.DYNAMIC": hasattr(export.Dim, "DYNAMIC"),
    "torch.export.Dim.AUTO": hasattr(export.Dim, "AUTO"),
    "torch.export.export_for_training": hasattr(export, "export_for_training"),
    "torch.export.draft_export": hasattr(export, "draft_export"),
    "torch.export.dynamic_dim": hasattr(export, "dynamic_dim"),
    "torch._export.capture_pre_autograd_graph": hasattr(torch._export, "capture_pre_autograd_graph"),
    "torch._check_tensor_all": hasattr(torch, "_check_tensor_all"),
    "torch.cond": hasattr(torch, "cond"),
}))
"""


def read_facts(python: Path, folder: Path) -> None:
    proc = subprocess.run([str(python), "-c", FACTS], capture_output=True, text=True, cwd="/tmp", timeout=600)
    if proc.returncode == 0:
        (folder / "facts.json").write_text(proc.stdout.strip().splitlines()[-1] + "\n")


def load(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def missing_proofs(stored: dict, examples: dict[str, dict[str, dict]]) -> list[str]:
    """The applicable examples (``EXP201 INVALID[0]``) the stored run has no holding proof of."""
    proofs = [(rule["code"], proof) for rule in stored.get("rules", []) for proof in rule["proofs"]]
    failed = {(code, proof.get("hash")) for code, proof in proofs if not proof["holds"]}
    proven = {(code, proof.get("hash")) for code, proof in proofs} - failed  # a failed proof is proven again
    return [
        f"{code} {label}"
        for code, labelled in examples.items()
        for label, entry in labelled.items()
        if entry["applies"] and (code, entry["hash"]) not in proven
    ]


def verify_rules(version: str, python: Path, folder: Path, timeout: int, whole: bool = False) -> None:
    """``verify --rules`` over every rule, unless the stored run proved every example that applies.

    ``whole``: one run of every rule unless the last run already was one with every example as it
    is now; it supersedes the earlier runs (the release's history starts again from it).
    """
    examples = snapshot_examples(python)
    stored = load(folder / "rules.json")
    missing = missing_proofs(stored, examples)
    clean = stored.get("summary", "").endswith("every claim holds.")
    last_whole = stored.get("runs", ["--rules ALL:"])[-1].startswith("--rules ALL:")
    if stored and not missing and clean and (last_whole or not whole):
        log(f"torch {version}: rule proofs cached ({stored.get('summary')})")
        return
    if whole:
        stored = {}  # a whole run: no partial re-run, no earlier runs kept
    codes = {item.split(" ")[0] for item in missing}
    if stored and not stored.get("summary", "").endswith("every claim holds."):
        # rules whose last proofs failed, even where the failing example no longer applies: re-proven
        # so that this release's last run says whether every claim holds
        codes |= {rule["code"] for rule in stored["rules"] if not all(p["holds"] for p in rule["proofs"])}
    codes = sorted(codes)
    partial = bool(stored) and len(codes) <= len(examples) // 2
    what = f"rules {','.join(codes)}" if partial else "every rule"
    log(f"torch {version}: proving {what} ({len(missing)} example(s) without a current proof)")
    out = folder / "rules.run.json"
    out.unlink(missing_ok=True)
    rc, summary = run_verify(
        python, ["--rules", ",".join(codes) if partial else "ALL"], out, folder / "rules.log", timeout
    )
    if not out.exists():
        log(f"torch {version}: verify --rules wrote nothing (exit {rc}: {summary}); see {folder / 'rules.log'}")
        return
    data = load(out)
    for rule in data["rules"]:
        for proof in rule["proofs"]:
            label = proof["example"].removesuffix(" fixed")
            proof["hash"] = examples[rule["code"]][label]["hash"]
    runs = [f"--rules {','.join(codes) if partial else 'ALL'}: {summary}"]
    if partial:
        fresh = {rule["code"]: rule for rule in data["rules"]}
        known = {rule["code"] for rule in stored["rules"]}
        # a rule new since the stored run is added, not dropped
        data["rules"] = [fresh.get(rule["code"], rule) for rule in stored["rules"]] + [
            rule for rule in data["rules"] if rule["code"] not in known
        ]
        runs = [*stored.get("runs", [f"--rules ALL: {stored.get('summary')}"]), *runs]
    stored = {"torch": data["torch"], "exit": rc, "summary": summary, "runs": runs, "rules": data["rules"]}
    (folder / "rules.json").write_text(json.dumps(stored, indent=1) + "\n")
    out.unlink()
    log(f"torch {version}: {summary}")


def verify_models(version: str, python: Path, folder: Path, timeout: int, names: str | None = None) -> None:
    from export_lint.verify.cases import CASES

    stored = load(folder / "models.json")
    hashes = case_hashes()  # the checkout's fixtures; the snapshot was synced from it just before
    wanted = {name.strip() for name in names.split(",")} if names else {case.name for case in CASES}
    for case in CASES:
        if case.name not in wanted:
            continue
        if stored.get(case.name, {}).get("hash") == hashes[case.name]:
            continue
        missing = [m for m in case.requires if not module_present(python, m)]
        if missing:
            stored[case.name] = {"hash": hashes[case.name], "status": "not run", "why": f"no {', '.join(missing)}"}
            log(f"torch {version}: {case.name} not run ({', '.join(missing)} not installable)")
        else:
            log(f"torch {version}: verifying {case.name}")
            out = folder / f"{case.name}.run.json"
            rc, summary = run_verify(python, ["--model", case.name], out, folder / f"{case.name}.log", timeout)
            report = load(out).get("cases", [{}])[0] if out.exists() else {}
            stored[case.name] = {"hash": hashes[case.name], "exit": rc, "summary": summary, "case": report}
            out.unlink(missing_ok=True)
            log(f"torch {version}: {case.name}: {summary}")
        (folder / "models.json").write_text(json.dumps(stored, indent=1) + "\n")


def module_present(python: Path, module: str) -> bool:
    code = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({module!r}) is None)"
    return subprocess.run([str(python), "-c", code], cwd="/tmp").returncode == 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--versions", default=",".join(RELEASES), help="comma-separated torch releases")
    parser.add_argument("--venvs", type=Path, default=Path("/work/torch-venvs"))
    parser.add_argument("--results", type=Path, default=None, help="default: VENVS/results")
    parser.add_argument("--keep", type=int, default=5, help="most venvs kept at once")
    parser.add_argument("--min-free-gb", type=float, default=25.0)
    parser.add_argument("--skip-models", action="store_true")
    parser.add_argument("--models", default=None, help="comma-separated reference models to run (default: all)")
    parser.add_argument("--skip-rules", action="store_true", help="only the reference models")
    parser.add_argument(
        "--whole", action="store_true", help="one verify --rules ALL run per release (not a re-run of changed rules)"
    )
    parser.add_argument("--render", action="store_true", help="only write docs/torch-versions.* from the results")
    parser.add_argument(
        "--seed-from-docs",
        action="store_true",
        help="start a release with no results from what docs/torch-versions.json recorded (a new machine)",
    )
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per verify run")
    args = parser.parse_args(argv)
    args.venvs.mkdir(parents=True, exist_ok=True)
    results = args.results or args.venvs / "results"
    wanted = [v.strip() for v in args.versions.split(",") if v.strip()]
    unknown = [v for v in wanted if v not in RELEASES]
    if unknown:
        parser.error(f"unknown release {', '.join(unknown)}; known: {', '.join(RELEASES)}")
    if args.seed_from_docs:
        seed_from_docs(results)
    if not args.render:
        run_all(wanted, results, args)
    render(results, list(RELEASES))
    return 0


def run_all(wanted: list[str], results: Path, args) -> None:
    """Verify each version in turn while the venvs of the next ones build (one build and one verify
    at a time); a venv still to be verified is never deleted to make room."""
    PROTECTED.update(args.venvs / f"torch-{version}" for version in wanted)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as builder:
        builds = {version: builder.submit(ensure_venv, version, args) for version in wanted}
        for index, version in enumerate(wanted):
            log(f"[{index + 1}/{len(wanted)}] torch {version}")
            folder = results / f"torch-{version}"
            folder.mkdir(parents=True, exist_ok=True)
            try:
                python = builds[version].result()
            except (RuntimeError, subprocess.CalledProcessError) as error:
                log(f"torch {version}: {error}")
                (folder / "build-error.txt").write_text(str(error) + "\n")
                PROTECTED.discard(args.venvs / f"torch-{version}")
                continue
            packages = installed(python)
            (folder / "packages.json").write_text(json.dumps(packages, indent=1) + "\n")
            if not (folder / "facts.json").exists():
                read_facts(python, folder)
            sync_snapshot()
            link_snapshot(python)
            if not args.skip_rules:
                verify_rules(version, python, folder, args.timeout, args.whole)
            if not args.skip_models:
                verify_models(version, python, folder, args.timeout, args.models)
            IN_USE.discard(python.parent.parent)
            PROTECTED.discard(python.parent.parent)


def seed_from_docs(results: Path) -> None:
    """Per-release results rebuilt from the committed docs/torch-versions.json, for releases that have
    none here (the results folder lives outside the repository): their recorded proofs count as
    cached, so a run proves only what changed since, and a reference model keeps its recorded status
    while its fixture is unchanged."""
    data = load(DOCS_JSON)
    for release in data.get("releases", []):
        folder = results / f"torch-{release}"
        if (folder / "rules.json").exists():
            continue
        folder.mkdir(parents=True, exist_ok=True)
        rules = [
            {"code": code, "proofs": entry["results"][release]["proofs"]}
            for code, entry in data["rules"].items()
            if release in entry["results"]
        ]
        summary = data["summaries"][release]
        runs = data["runs"].get(release, [f"--rules ALL: {summary}"])
        stored = {"torch": release, "exit": 0, "summary": summary, "runs": runs, "rules": rules}
        (folder / "rules.json").write_text(json.dumps(stored, indent=1) + "\n")
        (folder / "packages.json").write_text(json.dumps(data["packages"].get(release, {}), indent=1) + "\n")
        if data["facts"].get(release):
            (folder / "facts.json").write_text(json.dumps(data["facts"][release]) + "\n")
        models = {
            name: {"hash": None, "seeded": by_release[release]}  # unknown: a models run re-runs it
            for name, by_release in data.get("models", {}).items()
            if release in by_release
        }
        (folder / "models.json").write_text(json.dumps(models, indent=1) + "\n")
        log(f"torch {release}: results seeded from {DOCS_JSON.relative_to(REPO)}")


def rule_status(proofs: list[dict], in_gate: bool) -> tuple[str, str | None]:
    """(holds / hazard absent / fails / no runnable example, the first failing claim)."""
    if not proofs:
        return "no runnable example", None
    bad = [p for p in proofs if not p["holds"]]
    if bad:
        first = bad[0]
        return "fails", f"{first['example']}: claimed {first['claim']}, got {first['error'] or 'no error'}"
    return ("holds" if in_gate else "hazard absent"), None


def current_proofs(rule, release: str, recorded: list[dict]) -> tuple[list[dict], list[str]]:
    """The recorded proofs of the examples that apply on ``release`` now, and the labels without one."""
    from export_lint.verify.matrix import applies, example_hash, labelled_examples

    by_hash: dict[str, list[dict]] = {}
    for proof in recorded:
        by_hash.setdefault(proof.get("hash"), []).append(proof)
    proofs, missing = [], []
    for label, example in labelled_examples(rule):
        if not applies(example, release):
            continue
        found = by_hash.get(example_hash(rule, example))
        if found:
            proofs += [
                {**proof, "example": proof["example"].replace(proof["example"].split(" ")[0], label)} for proof in found
            ]
        else:
            missing.append(label)
    return proofs, missing


def model_status(entry: dict) -> tuple[str, str]:
    """(as claimed / MISMATCH / cannot run / not run / error, what the original and the fixed code did)."""
    if "seeded" in entry:  # recorded by an earlier run (see seed_from_docs)
        return entry["seeded"]["status"], entry["seeded"]["detail"]
    if entry.get("status") == "not run":
        return "not run", entry.get("why", "")
    case = entry.get("case") or {}
    if not case:
        return "error", entry.get("summary", "")

    def outcome(name: str) -> str:
        found = case.get(name) or {}
        if found.get("status") == "exports":
            return "exports"
        return f"{found.get('error') or 'not run'} ({found.get('stage') or '?'})"

    codes = ",".join(case.get("found_codes") or []) or "none"
    stages = {(case.get(name) or {}).get("stage") for name in ("original", "fixed")}
    if not case.get("passed") and stages == {"before export"}:
        # the fixture's own code does not run with these libraries (e.g. an API of a newer transformers)
        return "cannot run", f"codes {codes}; the case's code fails before export: {outcome('original')}"
    detail = f"codes {codes}; original: {outcome('original')}; fixed: {outcome('fixed')}"
    problems = "; ".join(case.get("problems") or [])
    return ("as claimed" if case.get("passed") else "MISMATCH"), detail + (f"; {problems}" if problems else "")


def collect(results: Path, releases: list[str]) -> dict:
    """docs/torch-versions.json from the per-release results."""
    from export_lint import versions
    from export_lint.rules import all_rules

    data: dict = {
        "generated_by": "scripts/torch_matrix.py",
        "releases": [],
        "packages": {},
        "summaries": {},
        "runs": {},
        "facts": {},
        "rules": {},
        "models": {},
    }
    for release in releases:
        folder = results / f"torch-{release}"
        stored = load(folder / "rules.json")
        if not stored:
            continue
        data["releases"].append(release)
        data["packages"][release] = load(folder / "packages.json")
        data["summaries"][release] = stored["summary"]
        data["runs"][release] = stored.get("runs", [f"--rules ALL: {stored['summary']}"])
        data["facts"][release] = load(folder / "facts.json")
        parsed = versions.parse_version(release)
        recorded = {rule["code"]: rule["proofs"] for rule in stored["rules"]}
        for rule in all_rules():
            gate = rule.torch_versions or ""
            proofs, missing = current_proofs(rule, release, recorded.get(rule.code, []))
            status, error = rule_status(proofs, versions.matches(parsed, gate))
            if missing:
                status, error = "not proven", f"no proof of {', '.join(missing)}: rerun scripts/torch_matrix.py"
            entry = data["rules"].setdefault(rule.code, {"name": rule.name, "torch_versions": gate, "results": {}})
            entry["results"][release] = {
                "status": status,
                "error": error,
                "proofs": [
                    {k: p.get(k) for k in ("example", "hash", "claim", "holds", "error")}
                    for p in recorded.get(rule.code, [])
                ],
            }
        for name, entry in sorted(load(folder / "models.json").items()):
            status, detail = model_status(entry)
            data["models"].setdefault(name, {})[release] = {"status": status, "detail": detail}
    data["rules"] = dict(sorted(data["rules"].items()))
    return data


SYMBOL = {
    "holds": "holds",
    "hazard absent": "absent",
    "fails": "**FAILS**",
    "no runnable example": "n/a",
    "not proven": "**stale**",
}


def markdown(data: dict) -> str:
    releases = data["releases"]
    lines = [
        "# export-lint's rules on every supported torch",
        "",
        "Generated by `python scripts/torch_matrix.py` (do not edit by hand): in a venv per torch release,",
        "`export-lint verify --rules` executes every rule's examples with that torch. *holds*: the hazard is",
        "real there (the INVALID examples fail, their fixes export, the VALID examples export); *absent*: the",
        "release lies outside the rule's gate and the INVALID examples export as the rule claims; *FAILS*: a",
        "claim does not hold (listed below the table). `tests/test_torch_matrix.py` fails when a rule's gate",
        "or examples change without a rerun.",
        "",
        "## Rules",
        "",
        "| rule | gate | " + " | ".join(releases) + " |",
        "|---|---|" + "---|" * len(releases),
    ]
    problems = []
    for code, entry in data["rules"].items():
        results = entry["results"]
        cells = []
        for release in releases:
            result = results.get(release)
            cells.append(SYMBOL[result["status"]] if result else "not run")
            if result and result["error"]:
                problems.append(f"- {code} on torch {release}: {result['error']}")
        lines.append(f"| {code} {entry['name']} | {entry['torch_versions'] or 'all'} | " + " | ".join(cells) + " |")
    lines += ["", "### Claims that do not hold", ""]
    lines += problems or ["None: every claim holds on every release above."]
    lines += ["", "## `verify --rules` on each release", ""]
    lines += ["The last line of each run since the last whole run (`--rules ALL`), oldest first: a later run"]
    lines += ["re-proves only the rules whose examples changed since (`--rules CODES`); the proofs above are"]
    lines += ["the latest of each rule.", ""]
    lines += ["| torch | runs |", "|---|---|"]
    lines += [f"| {release} | {'<br>'.join(data['runs'][release])} |" for release in releases]
    if data["models"]:
        lines += ["", "## Reference models (`export-lint verify --model NAME`)", ""]
        lines += ["*as claimed*: export-lint reported the case's codes, the original did what they claim and the"]
        lines += ["fixed code exported and matched eager; *MISMATCH*: a claim did not hold (below); *cannot run*: the"]
        lines += ["case's own code fails before export with that release's libraries; *not run*: the case's libraries"]
        lines += [
            "do not install with that torch; `-`: no model run on that release yet (`--skip-rules --models ...`).",
            "",
        ]
        lines += ["| model | " + " | ".join(releases) + " |", "|---|" + "---|" * len(releases)]
        details = []
        for name, by_release in data["models"].items():
            cells = []
            for release in releases:
                result = by_release.get(release)
                cells.append(result["status"] if result else "-")
                if result and result["detail"]:
                    detail = result["detail"]
                    detail = detail if len(detail) <= 300 else detail[:297] + "..."
                    details.append(f"- {name} on torch {release}: {result['status']}: {detail}")
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines += ["", *details]
    facts = sorted({name for found in data["facts"].values() for name in found})
    if facts:
        lines += [
            "",
            "## The torch API that gates and fixes rely on",
            "",
            "| torch | " + " | ".join(f"`{f}`" for f in facts) + " |",
        ]
        lines += ["|---|" + "---|" * len(facts)]
        for release in releases:
            found = data["facts"].get(release, {})
            lines.append(f"| {release} | " + " | ".join(str(found.get(f, "-")) for f in facts) + " |")
    names = sorted({name for packages in data["packages"].values() for name in packages})
    lines += ["", "## Package versions", "", "| release | " + " | ".join(names) + " |"]
    lines += ["|---|" + "---|" * len(names)]
    for release in releases:
        packages = data["packages"][release]
        lines.append(f"| {release} | " + " | ".join(packages.get(name, "-") for name in names) + " |")
    return "\n".join(lines) + "\n"


def render(results: Path, releases: list[str]) -> None:
    data = collect(results, releases)
    DOCS_JSON.parent.mkdir(exist_ok=True)
    DOCS_JSON.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    DOCS_MD.write_text(markdown(data), encoding="utf-8")
    log(f"wrote {DOCS_JSON.relative_to(REPO)} and {DOCS_MD.relative_to(REPO)} ({len(data['releases'])} releases)")


if __name__ == "__main__":
    sys.exit(main())
