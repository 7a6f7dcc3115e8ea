"""The static side of the recall corpus: each model's files linted with its class as the export root.

Independent of the export runs: a row of ``recall_cache.jsonl`` names the model's files and its
class (``model_files``, ``roots``), so re-linting needs no torch and no model. Results go to
``recall_static.jsonl`` keyed by a digest of export-lint's own code (``export_lint/``, ``rules/``);
a row whose digest is not the current one is re-linted, so the report always scores the rules of
the checkout it runs in.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import sys
import sysconfig
import time
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SELECT = ("ALL",)


#: Parts of export-lint that do not change what ``check`` reports.
_NOT_LINTING = ("export_lint/verify/", "export_lint/server/", "export_lint/report/")


def rules_digest(root: Path = ROOT) -> str:
    """A digest of every Python file of export-lint's engine, analysis and rules and of verify's
    static side (not the rest of verify, the server or the reporters: they do not change what is found)."""
    digest = hashlib.sha256()
    for folder in ("export_lint", "rules"):
        for path in sorted((root / folder).rglob("*.py")):
            relative = path.relative_to(root).as_posix()
            if relative.startswith(_NOT_LINTING) and relative != "export_lint/verify/static_side.py":
                continue
            digest.update(relative.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def jsonl_rows(path: Path) -> Iterator[dict]:
    """The rows of a JSON-lines cache (none when it does not exist), skipping a line a killed run cut off."""
    if not path.exists():
        return
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            yield json.loads(line)
        except json.JSONDecodeError:
            continue


def read_static(path: Path, digest: str) -> dict[tuple[str, str], dict]:
    """{(source, name): {path: [[row, code], ...]}} of the rows linted with the rules of ``digest``."""
    found = {}
    for row in jsonl_rows(path):
        if row.get("rules") == digest:
            found[(row["source"], row["name"])] = row["static"]
    return found


def local_path(path: str) -> str:
    """``path`` as it is on this machine: a library file a row recorded under another environment's
    site-packages (an earlier session's interpreter, whose packages may since have been upgraded) is
    looked up in this one's (the report names its package versions), and a reference case recorded
    in another checkout in this one."""
    cases = "/export_lint/verify/cases/"  # a reference model's script, recorded in another checkout
    if cases in path:
        return str(ROOT / "export_lint" / "verify" / "cases" / path.split(cases, 1)[1])
    for marker in ("site-packages/", "dist-packages/"):
        if marker in path:  # this interpreter's copy even when the recorded one exists: it may be another release
            here = os.path.join(sysconfig.get_paths()["purelib"], path.split(marker, 1)[1])
            return here if os.path.exists(here) else path
    return path


def lint_record(record: dict, memo: dict) -> dict[str, list[list]]:
    """check --select ALL on a model's files and the files of its failure sites, with its class (from
    the cache row) as the export root."""
    from export_lint.verify.static_side import ExportRoot, static_findings

    named = [*record.get("model_files", []), *(finding["path"] for finding in record.get("findings", []))]
    recorded = {local_path(path): path for path in named}  # findings keyed by the paths the row names
    files = [path for path in recorded if Path(path).is_file()]
    if not files:
        return {}
    roots = [ExportRoot(**{**root, "path": local_path(root["path"])}) for root in record.get("roots", [])]
    # The torch the row's exports ran on: a rule gated to older releases (the project's own pins say
    # torch>=2.4) would otherwise claim failures this torch does not have.
    ran_on = ".".join(str(record.get("torch") or "").split("+")[0].split(".")[:2]) or None
    static = static_findings(files, SELECT, roots, memo=memo, torch_version=ran_on)
    return {recorded.get(path, path): [[item["row"], item["code"]] for item in items] for path, items in static.items()}


def _lint_chunk(records: list[dict]) -> list[tuple[tuple[str, str], dict]]:
    """One worker's share of the stale records (its own memo: models of a family share files, and
    the chunks keep families together)."""
    memo: dict = {}
    return [((record["source"], record["name"]), lint_record(record, memo)) for record in records]


def relint(
    records: list[dict],
    path: Path,
    *,
    say: Callable[[str], None] = lambda text: print(text, file=sys.stderr),
    jobs: int = 1,
) -> dict[tuple[str, str], dict]:
    """The static side of every record: cached when the rules are unchanged, else linted (and cached),
    in ``jobs`` worker processes."""
    digest = rules_digest()
    found = read_static(path, digest)
    stale = [r for r in records if (r["source"], r["name"]) not in found]
    if not stale:
        return found
    say(f"linting {len(stale)} models' files (rules {digest}, {jobs} worker(s))")
    started = time.perf_counter()
    size = max(1, min(25, -(-len(stale) // max(jobs, 1))))
    chunks = [stale[i : i + size] for i in range(0, len(stale), size)]
    done = 0
    with concurrent.futures.ProcessPoolExecutor(max_workers=max(jobs, 1)) as pool:
        for results in pool.map(_lint_chunk, chunks):
            with path.open("a", encoding="utf-8") as handle:
                for key, static in results:
                    found[key] = static
                    row = {"source": key[0], "name": key[1], "rules": digest, "static": static}
                    handle.write(json.dumps(row) + "\n")
            done += len(results)
            say(f"  linted {done}/{len(stale)} ({time.perf_counter() - started:.0f}s)")
    return found
