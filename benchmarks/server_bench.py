"""How fast ``export-lint server`` answers an edit, and whether its memory stays flat (issue 16).

Starts the server as editors do (``python -m export_lint server``, LSP over stdio) and drives it
with pygls' client:

1. latency: a ~1,000-line model file (transformers' ``bloom/modeling_bloom.py``, 975 lines, from
   the installed transformers) is opened, then edited 100 times (a comment line inserted at a
   different place each time); each figure is the wall time from sending ``didChange`` to
   receiving the ``publishDiagnostics`` of that version (the 50 ms debounce included). The
   worker's CPU seconds per edit are printed beside it: on a shared machine the wall time also
   measures the other users.
2. memory: the workspace is the installed transformers ``models/`` folder; 500 edits, each on the
   next ``modeling_*.py`` file (opened, edited, closed once 20 are open, as tabs are), and the
   resident memory of the server and its worker processes after the first 50 edits and at the end.

    python benchmarks/server_bench.py [--edits 100] [--memory-edits 500] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path

from lsprotocol import types
from pygls.lsp.client import LanguageClient
from pygls.uris import from_fs_path

OPEN_TABS = 20


def _models_folder() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("transformers")
    if spec is None or spec.origin is None:
        sys.exit("transformers is not installed: nothing to benchmark on")
    return Path(spec.origin).parent / "models"


def _descendants(pid: int) -> list[int]:
    """``pid`` and every process under it (the forkserver and the lint worker)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry)] = int(fields[1])
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(child for child, parent in parents.items() if parent == current)
    return found


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Driver:
    def __init__(self) -> None:
        self.client = LanguageClient("export-lint-bench", "1")
        self.waiting: dict[tuple[str, int], asyncio.Future] = {}
        self.versions: dict[str, int] = {}

        @self.client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def published(params: types.PublishDiagnosticsParams) -> None:
            future = self.waiting.pop((params.uri, params.version), None)
            if future is not None and not future.done():
                future.set_result(params.diagnostics)

    async def start(self, folder: Path) -> None:
        await self.client.start_io(sys.executable, "-m", "export_lint", "server")
        await self.client.initialize_async(
            types.InitializeParams(
                capabilities=types.ClientCapabilities(),
                workspace_folders=[types.WorkspaceFolder(from_fs_path(str(folder)), folder.name)],
                initialization_options={"cache": False},  # leave no cache in the installed transformers
            )
        )
        self.client.initialized(types.InitializedParams())

    @property
    def pid(self) -> int:
        return self.client._server.pid

    def _expect(self, uri: str, version: int) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        self.waiting[(uri, version)] = future
        return future

    async def open(self, path: Path, text: str) -> str:
        uri = from_fs_path(str(path))
        self.versions[uri] = 1
        done = self._expect(uri, 1)
        self.client.text_document_did_open(
            types.DidOpenTextDocumentParams(types.TextDocumentItem(uri, "python", 1, text))
        )
        await asyncio.wait_for(done, 120)
        return uri

    async def change(self, uri: str, text: str) -> float:
        """Seconds from sending the change to receiving its diagnostics."""
        self.versions[uri] += 1
        version = self.versions[uri]
        done = self._expect(uri, version)
        started = time.perf_counter()
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                types.VersionedTextDocumentIdentifier(version=version, uri=uri),
                [types.TextDocumentContentChangeWholeDocument(text=text)],
            )
        )
        await asyncio.wait_for(done, 120)
        return time.perf_counter() - started

    def close(self, uri: str) -> None:
        self.client.text_document_did_close(types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(uri)))

    async def stop(self) -> None:
        await self.client.shutdown_async(None)
        self.client.exit(None)
        await self.client.stop()

    def memory(self) -> dict[str, float]:
        pids = _descendants(self.pid)
        return {"server_mib": _rss_mib(self.pid), "total_mib": sum(_rss_mib(pid) for pid in pids)}

    def cpu(self) -> float:
        return sum(_cpu_seconds(pid) for pid in _descendants(self.pid))


def _edited(text: str, edit: int) -> str:
    """The text with a comment line inserted before a different line each edit (a comment at
    column 0 is valid anywhere, even inside a function body)."""
    lines = text.splitlines(keepends=True)
    at = (edit * 37) % len(lines)
    return "".join([*lines[:at], f"# edit {edit}\n", *lines[at:]])


async def latency(models: Path, edits: int) -> dict:
    path = models / "bloom" / "modeling_bloom.py"
    text = path.read_text(encoding="utf-8")
    driver = Driver()
    await driver.start(models)
    uri = await driver.open(path, text)
    cpu_before = driver.cpu()
    times = [await driver.change(uri, _edited(text, edit)) for edit in range(edits)]
    cpu = (driver.cpu() - cpu_before) / edits
    await driver.stop()
    times.sort()
    return {
        "file": f"transformers/models/bloom/modeling_bloom.py ({len(text.splitlines())} lines)",
        "edits": edits,
        "median_ms": round(statistics.median(times) * 1000, 1),
        "p95_ms": round(times[int(0.95 * (len(times) - 1))] * 1000, 1),
        "max_ms": round(times[-1] * 1000, 1),
        "cpu_ms_per_edit": round(cpu * 1000, 1),
    }


async def memory(models: Path, edits: int) -> dict:
    files = sorted(models.glob("*/modeling_*.py"))
    driver = Driver()
    await driver.start(models)
    open_uris: list[str] = []
    after_50: dict[str, float] = {}
    seen: set[int] = set()  # every process under the server: a replaced worker shows up here
    started = time.perf_counter()
    for edit in range(edits):
        path = files[edit % len(files)]
        text = path.read_text(encoding="utf-8")
        uri = await driver.open(path, text)
        open_uris.append(uri)
        await driver.change(uri, _edited(text, edit))
        if len(open_uris) > OPEN_TABS:
            driver.close(open_uris.pop(0))
        if edit + 1 == 50:
            after_50 = driver.memory()
        if edit % 10 == 0:
            seen.update(_descendants(driver.pid))
    final = driver.memory()
    elapsed = time.perf_counter() - started
    await driver.stop()
    return {
        "folder": "transformers/models",
        "edits": edits,
        "files": min(edits, len(files)),
        "after_50": after_50,
        "after_all": final,
        "growth": round(final["total_mib"] / after_50["total_mib"], 3),
        "processes_seen": len(seen),
        "seconds": round(elapsed, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=100)
    parser.add_argument("--memory-edits", type=int, default=500)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    models = _models_folder()
    import transformers

    results: dict = {"transformers": transformers.__version__, "cores": os.cpu_count(), "load": os.getloadavg()}
    results["latency"] = asyncio.run(latency(models, args.edits))
    print(json.dumps(results["latency"]), flush=True)
    if not args.skip_memory:
        results["memory"] = asyncio.run(memory(models, args.memory_edits))
        print(json.dumps(results["memory"]), flush=True)
    results["load_after"] = os.getloadavg()
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
