"""export-lint against a bare LibCST parse, ruff, Fixit and TorchFix on the same tree, side by side.

    python benchmarks/bench_lint.py                     # installed transformers source, 3 rounds
    python benchmarks/bench_lint.py --tree path/to/src --rounds 5 --no-peers
    python benchmarks/bench_lint.py --tree path/to/executorch --select default --cold-only --rounds 1

The tree is copied (Python files only) to a temporary folder, so every tool sees the same files
and none of them skips it for living in ``site-packages``. Each round runs every tool once, in
turn, so that a busy machine slows them alike; the table shows medians and ratios. Fixit and
TorchFix are installed from PyPI into a throwaway venv; they get at most ``--peer-factor`` times
export-lint's cold time, and a run cut off there is reported as a lower bound (``>``).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from export_lint.cli import GC_THRESHOLD

BARE_PARSE = """
import os, sys
from concurrent.futures import ProcessPoolExecutor
import libcst

def parse(paths):
    for path in paths:
        with open(path, "rb") as handle:
            try:
                libcst.parse_module(handle.read())
            except Exception:
                pass
    return len(paths)

if __name__ == "__main__":
    if len(sys.argv) > 2:  # the cyclic-GC threshold export-lint's CLI sets, for a like-for-like baseline
        import gc
        gc.set_threshold(int(sys.argv[2]), 20, 100)
    files = sorted(os.path.join(d, f) for d, _, fs in os.walk(sys.argv[1]) for f in fs if f.endswith((".py", ".pyi")))
    chunks = [files[i : i + 16] for i in range(0, len(files), 16)]
    with ProcessPoolExecutor(os.cpu_count()) as pool:
        print(sum(pool.map(parse, chunks)))
"""


def copy_tree(source: Path, destination: Path) -> tuple[int, int]:
    files = lines = 0
    for folder, _, names in os.walk(source):
        for name in names:
            if name.endswith((".py", ".pyi")):
                target = destination / Path(folder).relative_to(source) / name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(os.path.join(folder, name), target)
                files += 1
                lines += target.read_bytes().count(b"\n")
    return files, lines


def median_linted_file(tree: Path) -> Path:
    """The file to edit for the one-file-changed run: of the files export-lint parses (they name
    torch or ``nn.``), the one of median length, so the row means a typical edit."""
    from export_lint.source import needs_linting

    sized = []
    for path in sorted(tree.rglob("*.py")):
        text = path.read_text(encoding="utf-8", errors="replace")
        if needs_linting(text):
            sized.append((text.count("\n"), str(path)))
    sized.sort()
    return Path(sized[len(sized) // 2][1]) if sized else sorted(tree.rglob("*.py"))[0]


#: CPU seconds (user + system, every process) of the last ``timed`` run: steadier than wall time on
#: a shared virtual machine, whose speed drifts while a long benchmark runs.
last_cpu: list[float] = [0.0]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(command: list[str], cwd: Path, timeout: float | None = None) -> float | None:
    """Wall seconds of one run, or None when it ran past ``timeout`` (its CPU time: ``last_cpu``)."""
    start, cpu = time.perf_counter(), _children_cpu()
    try:
        subprocess.run(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    finally:
        last_cpu[0] = _children_cpu() - cpu
    return time.perf_counter() - start


def peak_rss_mib(command: list[str], cwd: Path) -> float:
    """Largest resident set of any process the command ran (the export-lint workers included)."""
    probe = (
        "import resource, subprocess, sys; subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, "
        "stderr=subprocess.DEVNULL); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    out = subprocess.run([sys.executable, "-c", probe, *command], cwd=cwd, capture_output=True, text=True).stdout
    return int(out.strip()) / 1024


def peer_venv(folder: Path) -> dict[str, list[str]]:
    """Fixit and TorchFix in a throwaway venv; {} for whichever cannot be installed."""
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
    python = folder / "bin" / "python"
    tools = {}
    for package, command in (("fixit", ["fixit", "lint"]), ("torchfix", ["torchfix"])):
        installed = subprocess.run([python, "-m", "pip", "install", "-q", package], capture_output=True, text=True)
        if installed.returncode == 0:
            tools[package] = [str(folder / "bin" / command[0]), *command[1:]]
        else:
            print(f"could not install {package}: {installed.stderr.strip()[-300:]}", file=sys.stderr)
    return tools


def import_ms() -> tuple[float, float, float]:
    """Medians of ``python -c pass``, ``import export_lint`` and ``export-lint --version`` (ms)."""
    runs: dict[str, list[float]] = {"bare": [], "import": [], "version": []}
    commands = {
        "bare": [sys.executable, "-c", "pass"],
        "import": [sys.executable, "-c", "import export_lint"],
        "version": [sys.executable, "-m", "export_lint", "--version"],
    }
    for _ in range(7):
        for name, command in commands.items():
            runs[name].append(timed(command, Path.cwd()) * 1000)
    return tuple(statistics.median(runs[name]) for name in ("bare", "import", "version"))  # type: ignore[return-value]


def self_import_ms() -> float:
    """``import export_lint`` itself, from ``-X importtime`` (cumulative microseconds -> ms)."""
    err = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import export_lint"], capture_output=True, text=True
    )
    match = re.search(r"\|\s*(\d+)\s*\|\s*export_lint$", err.stderr, re.MULTILINE)
    return int(match.group(1)) / 1000 if match else float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", type=Path, help="source folder (default: the installed transformers package)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-peers", action="store_true", help="skip Fixit and TorchFix")
    parser.add_argument("--peer-factor", type=float, default=12.0, help="cut peers off at this many cold runs")
    parser.add_argument(
        "--select", default="ALL", help="export-lint's --select (default ALL); 'default': the default selection"
    )
    parser.add_argument(
        "--cold-only",
        action="store_true",
        help="only the bare parses and export-lint's cold run (no ruff, no warm runs)",
    )
    args = parser.parse_args(argv)
    if args.tree is None:
        spec = importlib.util.find_spec("transformers")
        if spec is None or not spec.submodule_search_locations:
            parser.error("transformers is not installed: pass --tree")
        args.tree = Path(next(iter(spec.submodule_search_locations)))
    ruff = shutil.which("ruff")
    selection = [] if args.select == "default" else ["--select", args.select]
    label = "default selection" if args.select == "default" else f"--select {args.select}"
    export_lint = [sys.executable, "-m", "export_lint", "check", *selection, "--exit-zero"]
    export_lint += ["--output-format", "concise", "."]
    # As a pip install does: byte-compiled, so start-up does not include compiling export-lint
    # (this matters where PYTHONDONTWRITEBYTECODE is set, as on the development machine).
    for package in ("export_lint", "export_lint.rules"):
        spec = importlib.util.find_spec(package)
        if spec is not None and spec.submodule_search_locations:
            folder = next(iter(spec.submodule_search_locations))
            subprocess.run([sys.executable, "-m", "compileall", "-q", folder], check=False, stdout=subprocess.DEVNULL)
    with tempfile.TemporaryDirectory(prefix="export-lint-bench-") as scratch:
        tree = Path(scratch) / "tree"
        files, lines = copy_tree(args.tree, tree)
        print(f"tree: {args.tree} ({files} files, {lines} lines), {os.cpu_count()} cores, {args.rounds} rounds")
        parse_script = Path(scratch) / "bare_parse.py"
        parse_script.write_text(BARE_PARSE)
        peers = {} if args.no_peers else peer_venv(Path(scratch) / "venv")
        changed = median_linted_file(tree)
        print(f"one file changed: {changed.relative_to(tree)} (the median size of the files that name torch)")
        times: dict[str, list[float | None]] = {}
        cpu: dict[str, list[float]] = {}
        cut: set[str] = set()  # peers stopped at the time limit: their figure is a lower bound

        def record(name: str, value: float | None) -> None:
            times.setdefault(name, []).append(value)
            cpu.setdefault(name, []).append(last_cpu[0])
            load = os.getloadavg()[0]  # the machine is shared: say how busy it was
            print(
                f"  round {len(times[name])}: {name}: {value:.2f} s, {last_cpu[0]:.2f} s CPU, load {load:.1f}",
                flush=True,
            )

        for round_number in range(args.rounds):
            subprocess.run([sys.executable, "-m", "export_lint", "clean"], cwd=tree, capture_output=True)
            record("libcst.parse_module, parallel", timed([sys.executable, str(parse_script), str(tree)], tree))
            record(
                "libcst.parse_module, parallel, export-lint's GC threshold",
                timed([sys.executable, str(parse_script), str(tree), str(GC_THRESHOLD)], tree),
            )
            cold = timed([*export_lint, "--no-cache"], tree)
            record(f"export-lint check {label} (cold, --no-cache)", cold)
            if args.cold_only:
                continue
            timed(export_lint, tree)  # fills the cache
            record(f"export-lint check {label} (warm cache)", timed(export_lint, tree))
            with changed.open("a") as handle:
                handle.write(f"\n# edit {round_number}\n")
            record("export-lint, one file changed (warm cache)", timed(export_lint, tree))
            if ruff:
                record(
                    "ruff check --select E,F --no-cache",
                    timed([ruff, "check", "--select", "E,F", "--no-cache", "--exit-zero", "."], tree),
                )
                record(
                    "ruff check --select ALL --no-cache",
                    timed([ruff, "check", "--select", "ALL", "--no-cache", "--exit-zero", "."], tree),
                )
            for name, command in peers.items():
                limit = max(60.0, args.peer_factor * (cold or 60.0))
                value = timed([*command, "."], tree, timeout=limit)
                record(name, limit if value is None else value)
                if value is None:
                    cut.add(name)
        memory = None if args.cold_only else peak_rss_mib([*export_lint, "--no-cache"], tree)
    base_name, cold_name = "libcst.parse_module, parallel", f"export-lint check {label} (cold, --no-cache)"
    baseline, cold = statistics.median(times[base_name]), statistics.median(times[cold_name])
    base_cpu, cold_cpu = statistics.median(cpu[base_name]), statistics.median(cpu[cold_name])
    print(
        "\n| tool | median s | / bare parse | / export-lint cold | median CPU s | CPU / bare parse |"
        "\n|---|---:|---:|---:|---:|---:|"
    )
    for name, values in times.items():
        median = statistics.median(v for v in values if v is not None)
        used = statistics.median(cpu[name])
        bound = ">" if name in cut else ""
        print(
            f"| {name} | {bound}{median:.2f} | {bound}{median / baseline:.2f}x | {bound}{median / cold:.2f}x "
            f"| {bound}{used:.2f} | {bound}{used / base_cpu:.2f}x |"
        )
    print(f"\nexport-lint cold / bare parse: {cold / baseline:.2f}x wall, {cold_cpu / base_cpu:.2f}x CPU")
    bare, imported, version = import_ms()
    print(
        f"\npython -c pass {bare:.0f} ms; import export_lint {imported:.0f} ms (itself {self_import_ms():.1f} ms by -X importtime); export-lint --version {version:.0f} ms"
    )
    if memory is not None:
        print(f"peak RSS of any export-lint process (cold run): {memory:.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
