"""``export-lint server`` as editors run it: a subprocess speaking LSP over stdio to a real client.

pygls' own client drives the server; nothing of the engine is mocked. Each test is one thing a user
sees in the editor (issue 16): diagnostics on open and change, fixes as code actions that lint clean
once applied, rule docs on hover, and a server that outlives syntax errors and files that hang.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator
from pathlib import Path

import pytest

pytest.importorskip("pygls")
from lsprotocol import types
from pygls.lsp.client import LanguageClient
from pygls.uris import from_fs_path

from export_lint.api import lint_source

#: EXP001 (a bound method as the export target) on line 12, columns 35-48 (0-based: the target).
HAZARD = """\
import torch


class Predictor:
    def __init__(self, model):
        self.model = model

    def _predict(self, x):
        return self.model(x) * 2

    def predict(self, x):
        return torch.export.export(self._predict, (x,), strict=False)
"""
CLEAN = HAZARD.replace("self._predict, (x,)", "self.model, (x,)")
BROKEN = "import torch\n\ndef f(:\n    pass\n"
WAIT = 30  # seconds: a loaded shared machine, not the expected time


class Session:
    """A started server, its client, and the diagnostics it published, per document."""

    def __init__(self, client: LanguageClient, folder: Path) -> None:
        self.client = client
        self.folder = folder
        self.published: dict[str, asyncio.Queue[types.PublishDiagnosticsParams]] = {}
        self.versions: dict[str, int] = {}

    def queue(self, uri: str) -> asyncio.Queue[types.PublishDiagnosticsParams]:
        return self.published.setdefault(uri, asyncio.Queue())

    async def diagnostics(self, uri: str) -> list[types.Diagnostic]:
        return list((await asyncio.wait_for(self.queue(uri).get(), WAIT)).diagnostics)

    def open(self, name: str, text: str) -> str:
        path = self.folder / name
        path.write_text(text, encoding="utf-8")
        uri = from_fs_path(str(path))
        self.versions[uri] = 1
        self.client.text_document_did_open(
            types.DidOpenTextDocumentParams(types.TextDocumentItem(uri, "python", 1, text))
        )
        return uri

    def change(self, uri: str, text: str) -> None:
        self.versions[uri] += 1
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                types.VersionedTextDocumentIdentifier(version=self.versions[uri], uri=uri),
                [types.TextDocumentContentChangeWholeDocument(text=text)],
            )
        )

    async def alive(self) -> None:
        """The server still answers: a hover request gets a reply."""
        uri = self.open("probe.py", HAZARD)
        await self.diagnostics(uri)
        reply = await asyncio.wait_for(
            self.client.text_document_hover_async(
                types.HoverParams(types.TextDocumentIdentifier(uri), types.Position(11, 40))
            ),
            WAIT,
        )
        assert reply is not None and "EXP001" in reply.contents.value


@contextlib.asynccontextmanager
async def session(folder: Path, options: dict | None = None) -> AsyncIterator[Session]:
    client = LanguageClient("export-lint-tests", "1")
    started = Session(client, folder)

    @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def published(params: types.PublishDiagnosticsParams) -> None:
        started.queue(params.uri).put_nowait(params)

    await client.start_io(sys.executable, "-m", "export_lint", "server")
    try:
        await asyncio.wait_for(
            client.initialize_async(
                types.InitializeParams(
                    capabilities=types.ClientCapabilities(),
                    workspace_folders=[types.WorkspaceFolder(from_fs_path(str(folder)), folder.name)],
                    initialization_options=options,
                )
            ),
            WAIT,
        )
        client.initialized(types.InitializedParams())
        yield started
        await asyncio.wait_for(client.shutdown_async(None), WAIT)
        client.exit(None)
        server = client._server
        assert await asyncio.wait_for(server.wait(), WAIT) == 0, "the server did not exit cleanly"
    finally:
        if client._server is not None and client._server.returncode is None:
            client._server.kill()  # a failed test: do not wait for a clean exit
        await client.stop()


class Shared:
    """One server for the tests that need no options of their own, on an event loop in a thread:
    starting a server costs about a second of CPU (seconds on a loaded machine)."""

    def __init__(self, folder: Path, options: dict | None = None) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self._context = session(folder, options)
        self.session: Session = self.call(self._context.__aenter__())

    def call(self, coroutine: Coroutine):
        return asyncio.run_coroutine_threadsafe(asyncio.wait_for(coroutine, 120), self.loop).result()

    def close(self) -> None:
        try:
            self.call(self._context.__aexit__(None, None, None))
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shared]:
    server = Shared(tmp_path_factory.mktemp("workspace"))
    yield server
    server.close()


#: What the editor passes as ``initializationOptions`` to the ``limited`` server.
OPTIONS = {"fileTimeout": 1.0, "ignore": ["EXP0"]}


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shared]:
    server = Shared(tmp_path_factory.mktemp("limited"), OPTIONS)
    yield server
    server.close()


def apply(text: str, edits: list[types.TextEdit]) -> str:
    """Apply LSP text edits (all on one version of ``text``, lines split at ``\\n``) as a client does."""
    lines = text.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))

    def offset(position: types.Position) -> int:
        return starts[position.line] + position.character  # ASCII text: UTF-16 units are characters

    for edit in sorted(edits, key=lambda e: offset(e.range.start), reverse=True):
        text = text[: offset(edit.range.start)] + edit.new_text + text[offset(edit.range.end) :]
    return text


def test_open_reports_the_hazard_at_its_range_and_a_change_that_removes_it_clears_it(shared: Shared) -> None:
    async def scenario(lsp: Session) -> None:
        uri = lsp.open("predictor.py", HAZARD)
        [diagnostic] = await lsp.diagnostics(uri)
        assert diagnostic.code == "EXP001"
        assert diagnostic.range == types.Range(types.Position(11, 35), types.Position(11, 48))
        assert diagnostic.severity == types.DiagnosticSeverity.Warning
        assert diagnostic.source == "export-lint"
        assert diagnostic.code_description.href.endswith("/rules/EXP001.md")
        lsp.change(uri, CLEAN)
        assert await lsp.diagnostics(uri) == []

    shared.call(scenario(shared.session))


def test_a_quick_fix_is_the_fix_s_edit_and_the_fixed_text_lints_clean(shared: Shared) -> None:
    async def scenario(lsp: Session) -> None:
        uri = lsp.open("predictor.py", HAZARD)
        [diagnostic] = await lsp.diagnostics(uri)
        actions = await lsp.client.text_document_code_action_async(
            types.CodeActionParams(
                types.TextDocumentIdentifier(uri),
                diagnostic.range,
                types.CodeActionContext(diagnostics=[diagnostic]),
            )
        )
        by_title = {action.title: action for action in actions}
        [quick_fix] = [a for a in actions if a.title.startswith("EXP001:")]
        assert quick_fix.kind == types.CodeActionKind.QuickFix and quick_fix.is_preferred
        assert "Disable EXP001 for this line (# noqa)" in by_title
        assert by_title["Fix all safe export-lint fixes in this file"].kind == types.CodeActionKind.QuickFix

        fixed = apply(HAZARD, quick_fix.edit.changes[uri])
        assert "class ExportWrapper(torch.nn.Module):" in fixed
        lsp.change(uri, fixed)
        assert await lsp.diagnostics(uri) == []

        lsp.change(uri, HAZARD)
        assert len(await lsp.diagnostics(uri)) == 1
        noqa = apply(HAZARD, by_title["Disable EXP001 for this line (# noqa)"].edit.changes[uri])
        assert "strict=False)  # noqa: EXP001\n" in noqa
        lsp.change(uri, noqa)
        assert await lsp.diagnostics(uri) == []

    shared.call(scenario(shared.session))


def test_source_fix_all_applies_every_safe_fix_of_the_document(shared: Shared) -> None:
    async def scenario(lsp: Session) -> None:
        uri = lsp.open("predictor.py", HAZARD)
        await lsp.diagnostics(uri)
        whole = types.Range(types.Position(0, 0), types.Position(len(HAZARD.splitlines()), 0))
        actions = await lsp.client.text_document_code_action_async(
            types.CodeActionParams(
                types.TextDocumentIdentifier(uri),
                whole,
                types.CodeActionContext(diagnostics=[], only=[types.CodeActionKind.SourceFixAll]),
            )
        )
        [fix_all] = actions
        assert fix_all.kind == "source.fixAll.export-lint"
        lsp.change(uri, apply(HAZARD, fix_all.edit.changes[uri]))
        assert await lsp.diagnostics(uri) == []

    shared.call(scenario(shared.session))


def test_hover_on_a_diagnostic_shows_the_rule_s_documentation(shared: Shared) -> None:
    async def scenario(lsp: Session) -> None:
        uri = lsp.open("predictor.py", HAZARD)
        await lsp.diagnostics(uri)
        hover = await lsp.client.text_document_hover_async(
            types.HoverParams(types.TextDocumentIdentifier(uri), types.Position(11, 40))
        )
        text = hover.contents.value
        assert hover.contents.kind == types.MarkupKind.Markdown
        assert "non-module-export-target" in text and "torch versions affected" in text
        assert "## What it does" in text and "## Fix safety" in text
        elsewhere = await lsp.client.text_document_hover_async(
            types.HoverParams(types.TextDocumentIdentifier(uri), types.Position(0, 0))
        )
        assert elsewhere is None

    shared.call(scenario(shared.session))


def test_a_syntax_error_is_one_diagnostic_and_the_server_lives_on(shared: Shared) -> None:
    async def scenario(lsp: Session) -> None:
        uri = lsp.open("broken.py", BROKEN)
        [diagnostic] = await lsp.diagnostics(uri)
        assert diagnostic.code == "EXP000" and "SyntaxError" in diagnostic.message
        assert diagnostic.severity == types.DiagnosticSeverity.Error
        [expected] = lint_source(BROKEN, str(lsp.folder / "broken.py"))  # the engine's location, as `check`'s
        assert diagnostic.range.start == types.Position(expected.start.row - 1, expected.start.column - 1)
        await lsp.alive()

    shared.call(scenario(shared.session))


def _slow_file(classes: int = 1000) -> str:
    """~12,000 lines of module classes with hazards: seconds to lint, far over a 1 s budget."""
    block = (
        "\n\nclass Block{i}(torch.nn.Module):\n"
        "    def forward(self, x):\n"
        "        if x.sum() > {i}:\n"
        "            x = x * 2\n"
        "        return x.reshape(x.shape[0], 4)\n"
    )
    # The export call makes the blocks traced code (an export root reaches them).
    exports = "".join(f"\ntorch.export.export(Block{i}(), (torch.randn(2, 4),))" for i in range(classes))
    return "import torch\n" + "".join(block.format(i=i) for i in range(classes)) + exports + "\n"


def test_a_file_over_the_time_budget_gets_a_diagnostic_and_the_server_lives_on(limited: Shared) -> None:
    async def scenario(lsp: Session) -> None:
        uri = lsp.open("huge.py", _slow_file())
        [diagnostic] = await lsp.diagnostics(uri)
        assert diagnostic.code == "EXP000" and "took over 1 s" in diagnostic.message
        exported = _slow_file(1) + "\n\ntorch.export.export(Block0(), (torch.randn(2, 4),))\n"  # EXP301
        uri = lsp.open("small.py", exported)
        assert await lsp.diagnostics(uri) != [], "a fresh worker lints the next file"

    limited.call(scenario(limited.session))


def test_initialization_options_select_and_ignore(limited: Shared) -> None:
    async def scenario(lsp: Session) -> None:
        uri = lsp.open("predictor.py", HAZARD)
        assert await lsp.diagnostics(uri) == [], "ignore = EXP0 from initializationOptions"

    limited.call(scenario(limited.session))


def test_settings_come_from_the_nearest_pyproject_re_read_when_it_changes(shared: Shared) -> None:
    project = shared.session.folder / "project"
    project.mkdir()
    config = project / "pyproject.toml"
    config.write_text('[tool.export-lint]\nignore = ["EXP001"]\n', encoding="utf-8")

    async def scenario(lsp: Session) -> None:
        uri = lsp.open("project/predictor.py", HAZARD)
        assert await lsp.diagnostics(uri) == []
        config.write_text("[tool.export-lint]\n", encoding="utf-8")
        lsp.client.workspace_did_change_watched_files(
            types.DidChangeWatchedFilesParams(
                [types.FileEvent(from_fs_path(str(config)), types.FileChangeType.Changed)]
            )
        )
        assert [d.code for d in await lsp.diagnostics(uri)] == ["EXP001"]

    shared.call(scenario(shared.session))


def test_positions_count_utf16_units_and_every_python_line_ending() -> None:
    from export_lint.server.positions import PositionMap

    text = "a = '😋'\rb = 1\r\nc = 'é' + x\n"
    positions = PositionMap(text, types.PositionEncodingKind.Utf16)
    after_emoji = text.index("'", 5)
    assert positions.position(after_emoji) == types.Position(0, 7)  # the emoji is two UTF-16 units
    assert positions.offset(types.Position(0, 7)) == after_emoji
    x = text.index("x")
    assert positions.position(x) == types.Position(2, 10)
    assert positions.offset(types.Position(2, 10)) == x
    assert PositionMap(text, types.PositionEncodingKind.Utf8).position(x) == types.Position(2, 11)
    assert PositionMap(text, types.PositionEncodingKind.Utf32).position(after_emoji) == types.Position(0, 6)
    assert positions.position(text.index("\r\n") + 1) == types.Position(1, 5)  # inside a \r\n: the line's end


def test_an_unsafe_fix_is_offered_labelled_and_not_preferred(shared: Shared) -> None:
    from export_lint.diagnostics import Applicability
    from export_lint.rules import all_rules

    rule = next(r for r in all_rules() if r.fix_applicability is Applicability.UNSAFE and r.INVALID)
    source = next(example.code for example in rule.INVALID if example.after is not None)

    async def scenario(lsp: Session) -> None:
        uri = lsp.open(f"{rule.code.lower()}.py", source)
        found = [d for d in await lsp.diagnostics(uri) if d.code == rule.code]
        assert found, f"{rule.code}'s own example is reported"
        actions = await lsp.client.text_document_code_action_async(
            types.CodeActionParams(
                types.TextDocumentIdentifier(uri), found[0].range, types.CodeActionContext(diagnostics=found)
            )
        )
        [fix] = [a for a in actions if a.title.startswith(f"{rule.code}:")]
        assert fix.title.endswith("(unsafe fix: review it)") and not fix.is_preferred

    shared.call(scenario(shared.session))


def test_open_shares_the_results_cache_with_check(shared: Shared) -> None:
    import subprocess

    project = shared.session.folder / "cached"
    project.mkdir()
    (project / "pyproject.toml").write_text("[tool.export-lint]\n", encoding="utf-8")
    cache = project / ".export_lint_cache"

    async def scenario(lsp: Session) -> None:
        uri = lsp.open("cached/predictor.py", HAZARD)
        assert [d.code for d in await lsp.diagnostics(uri)] == ["EXP001"]

    shared.call(scenario(shared.session))
    stored = sorted(path.name for path in cache.glob("*.json"))
    assert len(stored) == 1, f"the server stored the file's result in check's cache: {stored}"
    check = subprocess.run(
        [sys.executable, "-m", "export_lint", "check", "predictor.py"], cwd=project, capture_output=True, text=True
    )
    assert check.returncode == 1 and "EXP001" in check.stdout
    assert sorted(path.name for path in cache.glob("*.json")) == stored, "check used the same run key"


def test_a_broken_pyproject_is_one_diagnostic_not_a_dead_server(shared: Shared) -> None:
    project = shared.session.folder / "broken-config"
    project.mkdir()
    (project / "pyproject.toml").write_text('[tool.export-lint]\nselect = ["EXP999"]\n', encoding="utf-8")

    async def scenario(lsp: Session) -> None:
        uri = lsp.open("broken-config/predictor.py", HAZARD)
        [diagnostic] = await lsp.diagnostics(uri)
        assert diagnostic.code == "EXP000" and "EXP999" in diagnostic.message
        await lsp.alive()

    shared.call(scenario(shared.session))


def test_notebook_cells_are_linted_together_and_diagnostics_land_in_their_cell(shared: Shared) -> None:
    first = "import torch\n%matplotlib inline\n"
    second = HAZARD.replace("import torch\n\n\n", "")  # the class and its export call, using cell 1's import
    folder = shared.session.folder

    async def scenario(lsp: Session) -> None:
        notebook = from_fs_path(str(folder / "model.ipynb"))
        cells = [f"{notebook}#cell{index}" for index in range(3)]
        lsp.client.notebook_document_did_open(
            types.DidOpenNotebookDocumentParams(
                notebook_document=types.NotebookDocument(
                    uri=notebook,
                    notebook_type="jupyter-notebook",
                    version=1,
                    cells=[
                        types.NotebookCell(kind=types.NotebookCellKind.Code, document=cells[0]),
                        types.NotebookCell(kind=types.NotebookCellKind.Markup, document=cells[1]),
                        types.NotebookCell(kind=types.NotebookCellKind.Code, document=cells[2]),
                    ],
                ),
                cell_text_documents=[
                    types.TextDocumentItem(cells[0], "python", 1, first),
                    types.TextDocumentItem(cells[1], "markdown", 1, "# `torch.export.export(f)` in prose\n"),
                    types.TextDocumentItem(cells[2], "python", 1, second),
                ],
            )
        )
        assert await lsp.diagnostics(cells[0]) == []
        [diagnostic] = await lsp.diagnostics(cells[2])
        assert diagnostic.code == "EXP001"
        assert diagnostic.range == types.Range(types.Position(8, 35), types.Position(8, 48))
        hover = await lsp.client.text_document_hover_async(
            types.HoverParams(types.TextDocumentIdentifier(cells[2]), types.Position(8, 40))
        )
        assert "non-module-export-target" in hover.contents.value
        actions = await lsp.client.text_document_code_action_async(
            types.CodeActionParams(
                types.TextDocumentIdentifier(cells[2]),
                diagnostic.range,
                types.CodeActionContext(diagnostics=[diagnostic]),
            )
        )
        [quick_fix] = [a for a in actions if a.title.startswith("EXP001:")]
        changes = quick_fix.edit.changes
        fixed = [apply(text, changes.get(cell, [])) for cell, text in ((cells[0], first), (cells[2], second))]
        assert "(torch.nn.Module):" in "".join(fixed), "the fix's wrapper class lands in a cell"
        assert "torch.export.export(self._predict" not in fixed[1]

    shared.call(scenario(shared.session))


def test_multi_root_each_file_gets_its_folder_s_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from export_lint.server.workspace_settings import SettingsResolver

    plain, configured = tmp_path / "plain", tmp_path / "configured"
    (plain / "pkg").mkdir(parents=True)
    configured.mkdir()
    (configured / "pyproject.toml").write_text('[tool.export-lint]\nignore = ["EXP001"]\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    resolver = SettingsResolver()
    resolver.set_folders([plain, configured])
    resolver.configure({"extendSelect": ["EXP9"], "torchVersion": "2.5"})
    first = resolver.for_path(str(plain / "pkg" / "model.py"))
    second = resolver.for_path(str(configured / "model.py"))
    assert first.project_root == str(plain) and first.ignore == ()
    assert second.project_root == str(configured) and second.ignore == ("EXP001",)
    assert first.torch_version == second.torch_version == "2.5"
    assert resolver.in_workspace(str(plain / "pkg" / "model.py")) and not resolver.in_workspace(str(tmp_path / "x.py"))


def test_a_model_file_exported_from_another_file_is_linted_as_traced_as_check_does(shared: Shared) -> None:
    project = shared.session.folder / "two-files"
    project.mkdir()
    (project / "pyproject.toml").write_text("[tool.export-lint]\n", encoding="utf-8")
    model = "import torch\n\n\nclass Model(torch.nn.Module):\n    def forward(self, x):\n        if x.sum() > 0:\n            return x * 2\n        return x\n"
    (project / "export_model.py").write_text(
        "import torch\n\nfrom model import Model\n\ntorch.export.export(Model(), (torch.randn(2),))\n", encoding="utf-8"
    )

    async def scenario(lsp: Session) -> None:
        uri = lsp.open("two-files/model.py", model)
        [diagnostic] = await lsp.diagnostics(uri)
        assert diagnostic.code == "EXP301", "reached from export_model.py's root"
        [root] = diagnostic.related_information
        assert root.location.uri == from_fs_path(str(project / "export_model.py"))
        assert root.location.range.start.line == 4 and "export of Model" in root.message
        lsp.change(uri, model.replace("if x.sum() > 0:", "if x.shape[0] > 0:"))
        assert await lsp.diagnostics(uri) == []

    shared.call(scenario(shared.session))
