"""Recall corpus: ``export-lint verify`` over real models, scored against ``export-lint check --select ALL``.

Sources: every torchvision classification/detection/segmentation/video/optical-flow model
(``weights=None``), >= 150 timm archs chosen by a fixed rule (``corpus_models.timm_names``), every
transformers model type with a base model class, built from a shrunk default config
(``corpus_models.shrink``), and the four reference cases (run as export scripts).

Two sides, cached apart:
- runtime: one forked child per model of a parent that imported the libraries once
  (``fork_runner``), with a timeout; each child runs the real exports and records the failures,
  the files of the model and every line the non-strict trace ran outside torch. Rows are appended
  to ``recall_cache.jsonl``, so a run can stop and go on later.
- static: each model's files linted by ``check --select ALL`` with the model's class as the export
  root (``recall_static.jsonl``, keyed by a digest of export-lint's rules and analysis). When the
  rules change, ``--report-only`` re-lints from the cached runtime rows without running any export.

Usage: ``OMP_NUM_THREADS=1 nice -n 10 python benchmarks/recall_corpus.py [--sample N] [--source timm]
[--timeout 240]``; ``--report-only`` re-lints what is stale and rewrites the report.
"""

from __future__ import annotations

import argparse
import ast
import collections
import contextlib
import datetime
import functools
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.corpus_models import encode  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
FACTORIES = ROOT / "benchmarks" / "corpus_models.py"
REFERENCES = {
    "mvit": ("mvit_video", "export_classifier"),
    "whisper": ("whisper_asr", "export_transcriber"),
    "blip": ("blip_caption", "export_captioner"),
    "sam2": ("sam2_segment", "export_segmenter"),
}
SOURCES = ("torchvision", "timm", "transformers", "reference")
#: Findings within this many lines of a failure site count as static hits.
NEAR = 3
DIVERGENCE = {"EXP602", "EXP603", "EXP501"}
#: Rules whose finding claims the export of the root itself fails (reported at its ``forward``).
WHOLE_EXPORT_CLAIMS = {"EXP008"}
#: Rules whose finding claims a failure for inputs other than the example ones (a text input baked
#: into the graph, a dim specialized to its example size): an export that matched eager on the
#: corpus's one input does not refute them, so they are listed apart, not counted as false alarms.
OTHER_INPUT_CLAIMS = {"EXP101", "EXP102", "EXP202"}


def commit() -> str:
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "export_lint", "rules"], capture_output=True, text=True
        )
    except OSError:
        return "unknown"
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def list_models() -> dict[str, list[str]]:
    """Every model of every source, listed in a separate process (the libraries stay out of this one)."""
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); from benchmarks import corpus_models as c; "
        "print(json.dumps({'torchvision': c.torchvision_names(), 'timm': c.timm_names(), "
        "'transformers': c.transformers_names()}))"
    )
    listed = subprocess.run([sys.executable, "-c", code, str(ROOT)], capture_output=True, text=True, check=True)
    models = json.loads(listed.stdout.strip().splitlines()[-1])
    models["reference"] = list(REFERENCES)
    return models


def sample(models: dict[str, list[str]], count: int | None) -> list[tuple[str, str]]:
    """All models, or ``count``: every reference case, the rest split evenly over the libraries
    (evenly spaced within each source's sorted list)."""
    everything = [(source, name) for source in SOURCES for name in models.get(source, [])]
    if count is None or count >= len(everything):
        return everything
    chosen = [("reference", name) for name in models.get("reference", [])][:count]
    libraries = [source for source in SOURCES if source != "reference" and models.get(source)]
    left = max(0, count - len(chosen))
    for position, source in enumerate(libraries):
        names = models[source]
        quota = min(len(names), left // len(libraries) + (1 if position < left % len(libraries) else 0))
        step = len(names) / quota if quota else 1
        chosen += [(source, names[int(i * step)]) for i in range(quota)]
    return chosen


def _reference_script(folder: Path, name: str) -> Path:
    module, entry = REFERENCES[name]
    path = folder / f"reference_{name}.py"
    path.write_text(f"from export_lint.verify.cases.{module} import {entry}\n\n{entry}()\n", encoding="utf-8")
    return path


def short_path(path: str) -> str:
    """A library file relative to its site-packages folder (``transformers/models/bert/modeling_bert.py``)."""
    for marker in ("site-packages/", "dist-packages/"):
        if marker in path:
            return path.split(marker, 1)[1]
    try:
        return os.path.relpath(path, ROOT) if path.startswith(str(ROOT)) else path
    except ValueError:
        return path


def reason_of(error: str) -> str:
    """Why a model was skipped: the factory's Skip reason, else the error without the target's name."""
    if "Skip: " in error:
        return error.split("Skip: ", 1)[1]
    return error.split(": ", 1)[-1] if ": " in error else error


def record_of(source: str, name: str, data: dict, wall: float, version: str) -> dict:
    """One cache row: the runtime side of a model (the static side is ``recall_static``'s)."""
    error = data.get("error")
    exports = data.get("exports", [])
    findings = [
        {key: finding[key] for key in ("path", "line", "code", "message", "category")}
        for check in exports
        for finding in check["findings"]
    ]
    executed: dict[str, set[int]] = {}
    for check in exports:
        for path, lines in check.get("executed", {}).items():
            executed.setdefault(path, set()).update(lines)
    matched = bool(exports) and all(
        check["status"] == "exports" and all(c["agree"] for c in check["comparisons"]) for check in exports
    )
    if error and not exports:
        status = "skipped"
    elif any(f["code"] not in DIVERGENCE for f in findings):
        status = "failed"
    elif findings:
        status = "diverged"
    else:
        status = "exported"
    reason = reason_of(error) if error else None
    return {
        "source": source,
        "name": name,
        "status": status,
        "matched_eager": matched,
        "reason": reason,
        "findings": findings,
        "model_files": data.get("model_files", []),
        "roots": data.get("roots", []),
        "executed": {path: line_ranges(lines) for path, lines in sorted(executed.items())},
        "seconds": round(wall, 1),
        "peak_rss_bytes": data.get("peak_rss_bytes"),
        "torch": data.get("torch"),
        "export_lint": version,
    }


def line_ranges(lines: set[int] | list[int]) -> str:
    """``{1, 2, 3, 7}`` -> ``"1-3,7"`` (the cache stays small)."""
    ordered = sorted(set(lines))
    parts, start = [], None
    for index, line in enumerate(ordered):
        if start is None:
            start = line
        if index + 1 == len(ordered) or ordered[index + 1] != line + 1:
            parts.append(str(start) if start == line else f"{start}-{line}")
            start = None
    return ",".join(parts)


def parse_ranges(text: str | list) -> set[int]:
    if isinstance(text, list):  # rows written before ranges
        return set(text)
    lines: set[int] = set()
    for part in filter(None, text.split(",")):
        first, _, last = part.partition("-")
        lines.update(range(int(first), int(last or first) + 1))
    return lines


def round_robin(models: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """One model of each source in turn, so that a run stopped early is still spread over the sources."""
    queues = {source: [m for m in models if m[0] == source] for source in SOURCES}
    ordered = []
    while any(queues.values()):
        for queue in queues.values():
            if queue:
                ordered.append(queue.pop(0))
    return ordered


def request_for(source: str, name: str, folder: Path) -> dict:
    """The verify worker's request for one model: no linting in the child, every executed line recorded."""
    request: dict = {"select": None, "strict": None, "lint": False, "track_all": True, "argv": []}
    if source == "reference":
        return {**request, "label": f"reference:{name}", "script": str(_reference_script(folder, name))}
    return {**request, "label": f"{source}:{name}", "factory": f"{FACTORIES}:{source}__{encode(name)}"}


def run(models: list[tuple[str, str]], cache: Path, timeout: float) -> None:
    from benchmarks.fork_runner import preload, run_forked

    done = {(r["source"], r["name"]) for r in read_cache(cache)}
    version = commit()
    todo = [model for model in round_robin(models) if model not in done]
    print(f"{len(models)} models, {len(models) - len(todo)} cached, {len(todo)} to run", file=sys.stderr)
    if not todo:
        return
    missing = preload()
    if missing:
        print(f"not installed: {', '.join(missing)}", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="export-lint-recall-") as folder:
        for index, (source, name) in enumerate(todo, start=1):
            data, wall = run_forked(request_for(source, name, Path(folder)), timeout)
            record = record_of(source, name, data, wall, version)
            with cache.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")
            print(
                f"[{index}/{len(todo)}] {source}:{name}: {record['status']} ({record['seconds']}s)"
                + (f" {record['reason'][:100]}" if record["reason"] else ""),
                file=sys.stderr,
                flush=True,
            )


def read_cache(cache: Path) -> list[dict]:
    """The runtime rows, the last one per model."""
    from benchmarks.recall_static import jsonl_rows

    records = {(record["source"], record["name"]): record for record in jsonl_rows(cache)}
    return list(records.values())


# -- the report -----------------------------------------------------------------------------------
@functools.cache
def _decorated_spans(path: str) -> tuple[tuple[int, int], ...]:
    """(first decorator line, ``def`` line) of every decorated function of a file."""
    from benchmarks.recall_static import local_path

    try:
        tree = ast.parse(Path(local_path(path)).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return ()
    return tuple(
        (node.decorator_list[0].lineno, node.lineno)
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.decorator_list
    )


def def_line(path: str, line: int) -> int:
    """A site inside a function's decorators, moved to its ``def`` line: rows recorded before verify's
    forward fallback skipped decorators that span lines put a whole-model failure on one of them."""
    for first, definition in _decorated_spans(path):
        if first <= line < definition:
            return definition
    return line


def _static_near(record: dict, path: str, line: int) -> bool:
    return any(abs(row - line) <= NEAR for row, _ in record["static"].get(path, []))


def _normalized(message: str) -> str:
    text = re.sub(r"`[^`]*`", "`…`", message)
    text = re.sub(r"\b(?:[uszq]\d+|\d+(?:\.\d+)?(?:e-?\d+)?)\b", "N", text)
    text = text.split(" [", 1)[0]
    return text[:140]


def report(
    records: list[dict], models: dict[str, list[str]] | None, sample_size: int | None, static_version: str = ""
) -> str:
    sites: dict[tuple[str, int], dict] = {}
    for record in records:
        for finding in record["findings"]:
            if finding["code"] in DIVERGENCE:
                continue
            key = (finding["path"], def_line(finding["path"], finding["line"]))
            if finding["path"] == "<unknown>":  # no frame (recorded before forward was the fallback)
                key = (f"<no frame: {record['source']}:{record['name']}>", 0)
            site = sites.setdefault(key, {"hit": False, "codes": set(), "messages": [], "models": []})
            site["hit"] = site["hit"] or _static_near(record, *key)
            site["codes"].add(finding["code"])
            site["messages"].append(finding["message"])
            site["models"].append(f"{record['source']}:{record['name']}")
    clean_static: set[tuple] = set()
    alarms: dict[tuple, list[str]] = {}
    unrefuted: dict[tuple, list[str]] = {}
    for record in records:
        if record["status"] != "exported" or not record["matched_eager"]:
            continue
        for path, items in record["static"].items():
            for row, code in items:
                clean_static.add((path, row, code))
                # A claim about the model's own export (its forward returns what export cannot
                # flatten) is false wherever the model exported, whatever lines ran.
                if code in WHOLE_EXPORT_CLAIMS or row in parse_ranges(record["executed"].get(path, "")):
                    found = unrefuted if code in OTHER_INPUT_CLAIMS else alarms
                    found.setdefault((path, row, code), []).append(f"{record['source']}:{record['name']}")
    lines = []
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    versions = sorted({f"torch {r['torch']}" for r in records if r.get("torch")})
    commits = sorted({r["export_lint"] for r in records})
    lines.append("# Recall corpus: export-lint verify on real models\n")
    lines.append(
        f"Generated {now} by `python benchmarks/recall_corpus.py"
        + (f" --sample {sample_size}" if sample_size else "")
        + f"` on {platform.machine()}, {os.cpu_count()} cores (shared with other jobs), Python "
        f"{platform.python_version()}, {', '.join(versions) or 'torch ?'}, {_library_versions()}; "
        f"runtime rows by export-lint commit(s) {', '.join(commits)}; static side: `check --select ALL` of "
        f"this checkout ({static_version or commit()}), each model's class as its export root (`--report-only` "
        "re-lints when the rules change, without running exports).\n"
    )
    seconds = [r["seconds"] for r in records if r.get("seconds") is not None]
    if seconds:
        load = ", ".join(f"{value:.1f}" for value in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
        lines.append(
            f"Runtime side: {len(seconds)} models, {sum(seconds) / 60:.0f} min of child wall time, "
            f"{sum(seconds) / len(seconds):.1f} s per model (one forked child per model, libraries imported "
            f"once; load average at report time {load}).\n"
        )
    lines.append("| source | in corpus | tried | exported (matches eager) | failed | diverged | skipped |")
    lines.append("|---|---|---|---|---|---|---|")
    for source in SOURCES:
        mine = [r for r in records if r["source"] == source]
        count = collections.Counter(r["status"] for r in mine)
        listed = len(models.get(source, [])) if models else "?"
        lines.append(
            f"| {source} | {listed} | {len(mine)} | {count['exported']} | {count['failed']} | "
            f"{count['diverged']} | {count['skipped']} |"
        )
    hits = sum(site["hit"] for site in sites.values())
    lines.append("")
    lines.append(f"- **Unique failure sites** (file:line of the frame verify reports): {len(sites)}")
    share = f"{hits / len(sites):.0%}" if sites else "n/a"
    lines.append(
        f"- **Static recall**: {hits}/{len(sites)} = {share} of failure sites have a `check --select ALL` "
        f"finding within {NEAR} lines"
    )
    rate = f"{len(alarms) / len(clean_static):.0%}" if clean_static else "n/a"
    lines.append(
        f"- **False-alarm rate**: {len(alarms)}/{len(clean_static)} = {rate} of the static findings in the files "
        "of models that exported and matched eager sit on lines their trace executed without a failure "
        f"(claims about other inputs, {', '.join(sorted(OTHER_INPUT_CLAIMS))}, listed apart: {len(unrefuted)})"
    )
    if alarms or unrefuted:
        lines.append("")
        lines.append("Static findings on lines an export that matched eager ran (or a claim about the whole")
        lines.append("export of a model that exported): false alarms, and claims about other inputs than the")
        lines.append("corpus's one example, which that export does not refute:\n")
        lines.append("| finding | code | models | counted |")
        lines.append("|---|---|---|---|")
        rows = [(key, models, "false alarm") for key, models in alarms.items()]
        rows += [(key, models, "other inputs") for key, models in unrefuted.items()]
        for (path, row, code), models, kind in sorted(rows, key=lambda item: (short_path(item[0][0]), item[0][1])):
            lines.append(f"| `{short_path(path)}:{row}` | {code} | {', '.join(sorted(set(models))[:3])} | {kind} |")
    lines.append("")
    lines.append("## Failure causes no rule covers (grouped)\n")
    lines.append(
        "Sites with no static finding within "
        f"{NEAR} lines, grouped by runtime code and message. *rule of that code*: whether a static rule has "
        "the runtime code (then it reports elsewhere: EXP002 reports at the export call, which a library's "
        "files do not hold; EXP3xx rules did not see the value as data-dependent there, or the export root "
        "does not reach the file); EXP6xx causes have no rule.\n"
    )
    from export_lint.rules import CODES as static_codes

    groups: dict[tuple, list] = collections.defaultdict(list)
    for key, site in sites.items():
        if not site["hit"]:
            groups[(",".join(sorted(site["codes"])), _normalized(site["messages"][0]))].append((key, site))
    lines.append("| runtime code | cause | sites | example site (models) | rule of that code |")
    lines.append("|---|---|---|---|---|")
    for (codes, cause), items in sorted(groups.items(), key=lambda item: -len(item[1])):
        (path, line), site = items[0]
        example = f"`{short_path(path)}:{line}` ({', '.join(sorted(set(site['models']))[:2])})"
        ruled = "yes" if all(code in static_codes for code in codes.split(",")) else "no"
        lines.append(f"| {codes} | {cause.replace('|', '/')} | {len(items)} | {example} | {ruled} |")
    lines.append("\n## Failure sites\n")
    lines.append("| site | runtime code | static hit | models |")
    lines.append("|---|---|---|---|")
    for (path, line), site in sorted(sites.items(), key=lambda item: (short_path(item[0][0]), item[0][1])):
        models_text = ", ".join(sorted(set(site["models"]))[:3]) + (" …" if len(set(site["models"])) > 3 else "")
        hit = "yes" if site["hit"] else "no"
        lines.append(f"| `{short_path(path)}:{line}` | {','.join(sorted(site['codes']))} | {hit} | {models_text} |")
    lines.append("\n## Skipped (why)\n")
    reasons = collections.Counter(
        _normalized(reason_of(r["reason"] or "?")) for r in records if r["status"] == "skipped"
    )
    lines.append("| reason | models |")
    lines.append("|---|---|")
    for reason, count in reasons.most_common():
        lines.append(f"| {reason.replace('|', '/')} | {count} |")
    return "\n".join(lines) + "\n"


def _library_versions() -> str:
    from importlib import metadata

    found = []
    for name in ("torchvision", "timm", "transformers"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            found.append(f"{name} {metadata.version(name)}")
    return ", ".join(found)


def main() -> int:
    from benchmarks.recall_static import relint

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, help="run only N models, spread over the sources")
    parser.add_argument("--source", choices=SOURCES, action="append", help="only these sources")
    parser.add_argument("--timeout", type=float, default=240.0, help="seconds per model (default 240)")
    parser.add_argument("--cache", type=Path, default=RESULTS / "recall_cache.jsonl")
    parser.add_argument("--static-cache", type=Path, help="default: recall_static.jsonl beside --cache")
    parser.add_argument("--output", type=Path, default=RESULTS / "recall.md")
    parser.add_argument("--report-only", action="store_true", help="re-lint what is stale, rewrite the report")
    parser.add_argument("--jobs", type=int, default=1, help="processes re-linting the static side (default 1)")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    models = list_models()
    if args.source:
        models = {source: names for source, names in models.items() if source in args.source}
    chosen = sample(models, args.sample)
    if not args.report_only:
        run(chosen, args.cache, args.timeout)
    wanted = set(chosen)
    records = [r for r in read_cache(args.cache) if (r["source"], r["name"]) in wanted]
    statics = relint(records, args.static_cache or args.cache.with_name("recall_static.jsonl"), jobs=args.jobs)
    for record in records:
        record["static"] = statics.get((record["source"], record["name"]), {})
    text = report(records, models, args.sample)
    args.output.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
