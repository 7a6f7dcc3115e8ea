"""The language server: diagnostics as you type, fixes as code actions, rule docs on hover.

Every document is linted by one worker process (see ``worker``) with the settings ``check``
would use for it (see ``workspace_settings``): on open and save at once (through ``check``'s
results cache when the buffer is the file on disk), on change after a short debounce. Only the
edited document is re-linted; the worker keeps what it read of the other files.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from pathlib import Path

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from export_lint import __version__
from export_lint.config import ConfigError, Settings
from export_lint.diagnostics import Applicability, Diagnostic, file_error
from export_lint.server.convert import DocumentText, rule_markdown, to_lsp
from export_lint.server.worker import Failure, LintWorker
from export_lint.server.workspace_settings import SettingsResolver

log = logging.getLogger(__name__)

#: Seconds between the last keystroke and the lint (``debounceMs`` overrides it).
DEFAULT_DEBOUNCE = 0.05
FIX_ALL_KIND = f"{types.CodeActionKind.SourceFixAll.value}.export-lint"
_PYTHON_SUFFIXES = (".py", ".pyi")


@dataclasses.dataclass
class Linted:
    """The diagnostics of one version of a document, and what they were computed from."""

    version: int | None
    document: DocumentText
    path: str
    settings: Settings | None
    diagnostics: list[Diagnostic]
    #: For a notebook cell: the notebook's uri (the cell was linted as part of it), and for each
    #: diagnostic the cell each of its fix's edits applies to.
    notebook: str | None = None
    edit_cells: list[tuple[str, ...]] | None = None


class ExportLintServer(LanguageServer):
    def __init__(self) -> None:
        notebooks = types.NotebookDocumentSyncOptions(
            notebook_selector=[
                types.NotebookDocumentFilterWithCells(cells=[types.NotebookCellLanguage("python")], notebook="*")
            ],
            save=True,
        )
        super().__init__(
            "export-lint",
            __version__,
            text_document_sync_kind=types.TextDocumentSyncKind.Full,
            notebook_document_sync=notebooks,
        )
        self.worker = LintWorker()
        self.resolver = SettingsResolver()
        self.debounce = DEFAULT_DEBOUNCE
        self.use_cache = True
        self.linted: dict[str, Linted] = {}
        self.open_documents: set[str] = set()
        self.open_notebooks: set[str] = set()
        self.notebook_cells: dict[str, set[str]] = {}  # notebook -> the cells given diagnostics
        self._waiting: dict[str, asyncio.Task] = {}
        self._lock: asyncio.Lock | None = None

    @property
    def lock(self) -> asyncio.Lock:
        """One request at a time to the worker; made on first use, inside the server's event loop."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    # -- documents --------------------------------------------------------------------------
    def lintable(self, uri: str, language_id: str | None = None) -> bool:
        return language_id == "python" or uri.endswith(_PYTHON_SUFFIXES)

    def path_of(self, uri: str) -> str:
        path = to_fs_path(uri)
        if path is None:  # an untitled buffer: lint it as a file of the first workspace folder
            folder = self.resolver.folders[-1] if self.resolver.folders else Path.cwd()
            return str(folder / "untitled.py")
        return path

    def encoding(self) -> str:
        return self.workspace.position_encoding or types.PositionEncodingKind.Utf16

    def schedule(self, uri: str, delay: float) -> None:
        """Lint ``uri`` after ``delay`` seconds unless another change comes first."""
        waiting = self._waiting.pop(uri, None)
        if waiting is not None:
            waiting.cancel()  # only ever cancelled while it sleeps: a lint in progress runs to its end
        self._waiting[uri] = asyncio.get_running_loop().create_task(self._lint_later(uri, delay))

    async def _lint_later(self, uri: str, delay: float) -> None:
        await asyncio.sleep(delay)
        if self._waiting.get(uri) is asyncio.current_task():
            del self._waiting[uri]
        await self.lint(uri)

    async def lint(self, uri: str, from_disk: bool = False) -> Linted | None:
        """Lint the document's current text and publish the diagnostics; None if it went away."""
        if uri in self.open_notebooks:
            await self.lint_notebook(uri)
            return None
        async with self.lock:
            if uri not in self.open_documents:
                return None
            document = self.workspace.get_text_document(uri)
            version, text = document.version, document.source
            current = self.linted.get(uri)
            if current is not None and current.version == version and current.document.text == text and not from_disk:
                return current
            path = self.path_of(uri)
            diagnostics, settings = await self._diagnostics(text, path, from_disk)
            if uri not in self.open_documents:
                return None
            linted = Linted(version, DocumentText(text, self.encoding()), path, settings, diagnostics)
            root = settings.project_root if settings is not None else None
            self.linted[uri] = linted
            self.text_document_publish_diagnostics(
                types.PublishDiagnosticsParams(
                    uri=uri, version=version, diagnostics=[to_lsp(d, linted.document, root) for d in diagnostics]
                )
            )
            return linted

    async def _diagnostics(self, text: str, path: str, from_disk: bool) -> tuple[list[Diagnostic], Settings | None]:
        """The worker's diagnostics for ``text`` linted as ``path``, and the settings used (None
        when the configuration is broken: then one EXP000 diagnostic says why)."""
        settings = self.resolver.for_path(path)
        if isinstance(settings, ConfigError):
            return [file_error(path, "config-error", str(settings))], None
        cached = from_disk and self.use_cache and self.resolver.in_workspace(path)
        return await asyncio.to_thread(self.worker.lint, text, path, settings, cached), settings

    async def lint_notebook(self, uri: str) -> None:
        """Lint a notebook's code cells as one file; publish each cell's diagnostics on the cell."""
        from export_lint.server.notebooks import Cell, JoinedCells

        async with self.lock:
            notebook = self.workspace.get_notebook_document(notebook_uri=uri)
            if notebook is None or uri not in self.open_notebooks:
                return
            documents = [
                self.workspace.get_text_document(cell.document)
                for cell in notebook.cells
                if cell.kind == types.NotebookCellKind.Code
            ]
            documents = [d for d in documents if d.language_id in (None, "python")]
            joined = JoinedCells([Cell(d.uri, d.source) for d in documents])
            path = self.path_of(uri)
            diagnostics, settings = await self._diagnostics(joined.text, path, from_disk=False)
            if uri not in self.open_notebooks:
                return
            for gone in self.notebook_cells.get(uri, set()) - {d.uri for d in documents}:
                self.linted.pop(gone, None)
                self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=gone, diagnostics=[]))
            self.notebook_cells[uri] = {d.uri for d in documents}
            for document, (cell_uri, found) in zip(documents, joined.split(diagnostics).items(), strict=True):
                text = DocumentText(document.source, self.encoding())
                cell_diagnostics = [diagnostic for diagnostic, _ in found]
                self.linted[cell_uri] = Linted(
                    document.version, text, path, settings, cell_diagnostics, uri, [cells for _, cells in found]
                )
                self.text_document_publish_diagnostics(
                    types.PublishDiagnosticsParams(
                        uri=cell_uri, diagnostics=[to_lsp(d, text) for d in cell_diagnostics]
                    )
                )

    async def current(self, uri: str) -> Linted | None:
        """The diagnostics of the document (or notebook cell) as it is now (linted now if stale)."""
        notebook = self.workspace.get_notebook_document(cell_uri=uri)
        if uri not in self.open_documents and notebook is None:
            return None
        linted = self.linted.get(uri)
        document = self.workspace.get_text_document(uri)
        if linted is not None and linted.version == document.version and linted.document.text == document.source:
            return linted
        if notebook is not None:
            await self.lint_notebook(notebook.uri)
            return self.linted.get(uri)
        return await self.lint(uri)

    async def relint_all(self) -> None:
        for uri in sorted(self.open_documents | self.open_notebooks):
            self.linted.pop(uri, None)
            await self.lint(uri)

    # -- code actions -------------------------------------------------------------------------
    async def code_actions(self, params: types.CodeActionParams) -> list[types.CodeAction]:
        uri = params.text_document.uri
        linted = await self.current(uri)
        if linted is None:
            return []
        only = params.context.only

        def wanted(kind: str) -> bool:
            return not only or any(kind == o or kind.startswith(f"{o}.") for o in only)

        document = linted.document
        start = document.positions.offset(params.range.start)
        end = document.positions.offset(params.range.end)
        actions: list[types.CodeAction] = []
        noqa_rows: dict[int, list[Diagnostic]] = {}
        for position, diagnostic in enumerate(linted.diagnostics):
            first, last = document.offsets(diagnostic)
            if not (first <= end and start <= last):
                continue
            lsp_diagnostic = to_lsp(diagnostic, document)
            fix = diagnostic.fix
            if fix is not None and diagnostic.fixable and wanted(types.CodeActionKind.QuickFix):
                safe = fix.applicability is Applicability.SAFE
                label = "" if safe else " (unsafe fix: review it)"
                actions.append(
                    types.CodeAction(
                        title=f"{diagnostic.code}: {fix.message}{label}",
                        kind=types.CodeActionKind.QuickFix,
                        diagnostics=[lsp_diagnostic],
                        is_preferred=safe,
                        edit=types.WorkspaceEdit(changes=self._fix_changes(uri, linted, position)),
                    )
                )
            if diagnostic.code != "EXP000" and diagnostic.noqa_row is not None:
                noqa_rows.setdefault(diagnostic.noqa_row, []).append(diagnostic)
        if wanted(types.CodeActionKind.QuickFix):
            from export_lint.suppression import add_noqa

            for row, found in sorted(noqa_rows.items()):
                codes = list(dict.fromkeys(d.code for d in found))
                edits = document.replacement(add_noqa(document.text, {row: codes})[0])
                if edits:
                    actions.append(
                        types.CodeAction(
                            title=f"Disable {', '.join(codes)} for this line (# noqa)",
                            kind=types.CodeActionKind.QuickFix,
                            diagnostics=[to_lsp(d, document) for d in found],
                            edit=types.WorkspaceEdit(changes={uri: edits}),
                        )
                    )
        has_safe = any(d.fix is not None and d.fix.applicability is Applicability.SAFE for d in linted.diagnostics)
        # Without ``only`` (a lightbulb) as a quick fix; for ``source.fixAll`` (on save) as that kind.
        kinds = [FIX_ALL_KIND] if only and wanted(FIX_ALL_KIND) else []
        if wanted(types.CodeActionKind.QuickFix):
            kinds.append(types.CodeActionKind.QuickFix)
        if has_safe and kinds and linted.settings is not None and linted.notebook is None:
            fixed = await self.fix_all(linted)
            if fixed:
                for kind in kinds:
                    actions.append(
                        types.CodeAction(
                            title="Fix all safe export-lint fixes in this file",
                            kind=kind,
                            edit=types.WorkspaceEdit(changes={uri: fixed}),
                        )
                    )
        return actions

    def _fix_changes(self, uri: str, linted: Linted, position: int) -> dict[str, list[types.TextEdit]]:
        """The text edits of one diagnostic's fix, by document (a notebook fix may touch other cells)."""
        fix = linted.diagnostics[position].fix
        assert fix is not None
        targets = linted.edit_cells[position] if linted.edit_cells is not None else (uri,) * len(fix.edits)
        changes: dict[str, list[types.TextEdit]] = {}
        for edit, target in zip(fix.edits, targets, strict=True):
            document = linted.document if target == uri else self.linted[target].document
            changes.setdefault(target, []).append(document.text_edit(edit))
        return changes

    async def fix_all(self, linted: Linted) -> list[types.TextEdit]:
        assert linted.settings is not None
        async with self.lock:
            text = linted.document.text
            fixed = await asyncio.to_thread(self.worker.fix, text, linted.path, linted.settings, False)
        if isinstance(fixed, Failure):
            self.window_log_message(
                types.LogMessageParams(type=types.MessageType.Warning, message=f"{linted.path}: {fixed.message}")
            )
            return []
        return linted.document.replacement(fixed)

    # -- hover ----------------------------------------------------------------------------------
    async def hover(self, params: types.HoverParams) -> types.Hover | None:
        linted = await self.current(params.text_document.uri)
        if linted is None:
            return None
        document = linted.document
        offset = document.positions.offset(params.position)
        line = params.position.line
        parts: list[str] = []
        for diagnostic in linted.diagnostics:
            first, last = document.offsets(diagnostic)
            on_it = first <= offset <= last if last > first else document.positions.position(first).line == line
            if on_it and diagnostic.code != "EXP000":
                text = rule_markdown(diagnostic.code)
                if text is not None and text not in parts:
                    parts.append(text)
        if not parts:
            return None
        return types.Hover(
            contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value="\n\n---\n\n".join(parts))
        )

    # -- settings -----------------------------------------------------------------------------
    def configure(self, options: object) -> None:
        if isinstance(options, dict):
            options = options.get("export-lint", options.get("exportLint", options))
        if not isinstance(options, dict):
            options = {}
        try:
            self.resolver.configure(options)
        except ConfigError as error:
            self.resolver.configure({})
            self.window_show_message(
                types.ShowMessageParams(type=types.MessageType.Error, message=f"export-lint: {error}")
            )
        budget = options.get("fileTimeout")
        if isinstance(budget, (int, float)) and budget > 0:
            self.worker.budget = float(budget)
        self.use_cache = options.get("cache", True) is not False
        debounce = options.get("debounceMs")
        if isinstance(debounce, (int, float)) and debounce >= 0:
            self.debounce = debounce / 1000

    def set_folders(self) -> None:
        folders = [to_fs_path(folder.uri) for folder in self.workspace.folders.values()]
        if not folders and self.workspace.root_path:
            folders = [self.workspace.root_path]
        self.resolver.set_folders(Path(folder) for folder in folders if folder)


def _is_config(uri: str) -> bool:
    return uri.endswith("/pyproject.toml")


def build_server() -> ExportLintServer:
    server = ExportLintServer()

    @server.feature(types.INITIALIZE)
    def initialize(ls: ExportLintServer, params: types.InitializeParams) -> None:
        ls.configure(params.initialization_options)
        ls.set_folders()
        ls.worker.warm_up()  # the forkserver imports the engine while the client finishes starting up

    @server.feature(types.INITIALIZED)
    async def initialized(ls: ExportLintServer, params: types.InitializedParams) -> None:
        capabilities = ls.client_capabilities.workspace
        watch = capabilities.did_change_watched_files if capabilities else None
        if watch is not None and watch.dynamic_registration:
            options = types.DidChangeWatchedFilesRegistrationOptions(
                watchers=[types.FileSystemWatcher(glob_pattern="**/pyproject.toml")]
            )
            registration = types.Registration(
                id="export-lint-pyproject", method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES, register_options=options
            )
            try:
                await ls.client_register_capability_async(types.RegistrationParams(registrations=[registration]))
            except Exception as error:  # a client that refuses still gets settings re-read on each lint
                log.info("file watching not registered: %s", error)

    @server.feature(types.SHUTDOWN)
    def shutdown(ls: ExportLintServer, params: None) -> None:
        ls.worker.stop()

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    async def did_open(ls: ExportLintServer, params: types.DidOpenTextDocumentParams) -> None:
        document = params.text_document
        if ls.lintable(document.uri, document.language_id):
            ls.open_documents.add(document.uri)
            await ls.lint(document.uri, from_disk=True)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: ExportLintServer, params: types.DidChangeTextDocumentParams) -> None:
        uri = params.text_document.uri
        if uri in ls.open_documents:
            ls.schedule(uri, ls.debounce)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE, types.SaveOptions(include_text=False))
    async def did_save(ls: ExportLintServer, params: types.DidSaveTextDocumentParams) -> None:
        uri = params.text_document.uri
        if _is_config(uri):
            await ls.relint_all()
        elif uri in ls.open_documents:
            await asyncio.to_thread(ls.worker.forget)  # what this file's export roots reach may have changed
            await ls.lint(uri, from_disk=True)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: ExportLintServer, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        ls.open_documents.discard(uri)
        ls.linted.pop(uri, None)
        waiting = ls._waiting.pop(uri, None)
        if waiting is not None:
            waiting.cancel()
        ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))

    @server.feature(types.NOTEBOOK_DOCUMENT_DID_OPEN)
    async def did_open_notebook(ls: ExportLintServer, params: types.DidOpenNotebookDocumentParams) -> None:
        ls.open_notebooks.add(params.notebook_document.uri)
        await ls.lint_notebook(params.notebook_document.uri)

    @server.feature(types.NOTEBOOK_DOCUMENT_DID_CHANGE)
    def did_change_notebook(ls: ExportLintServer, params: types.DidChangeNotebookDocumentParams) -> None:
        if params.notebook_document.uri in ls.open_notebooks:
            ls.schedule(params.notebook_document.uri, ls.debounce)

    @server.feature(types.NOTEBOOK_DOCUMENT_DID_SAVE)
    async def did_save_notebook(ls: ExportLintServer, params: types.DidSaveNotebookDocumentParams) -> None:
        if params.notebook_document.uri in ls.open_notebooks:
            await ls.lint_notebook(params.notebook_document.uri)

    @server.feature(types.NOTEBOOK_DOCUMENT_DID_CLOSE)
    def did_close_notebook(ls: ExportLintServer, params: types.DidCloseNotebookDocumentParams) -> None:
        ls.open_notebooks.discard(params.notebook_document.uri)
        ls.notebook_cells.pop(params.notebook_document.uri, None)
        waiting = ls._waiting.pop(params.notebook_document.uri, None)
        if waiting is not None:
            waiting.cancel()
        for cell in params.cell_text_documents:
            ls.linted.pop(cell.uri, None)
            ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=cell.uri, diagnostics=[]))

    @server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    async def did_change_watched_files(ls: ExportLintServer, params: types.DidChangeWatchedFilesParams) -> None:
        if any(_is_config(change.uri) for change in params.changes):
            await asyncio.to_thread(ls.worker.forget)
            await ls.relint_all()

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(ls: ExportLintServer, params: types.DidChangeConfigurationParams) -> None:
        if params.settings:
            ls.configure(params.settings)
            await ls.relint_all()

    @server.feature(types.WORKSPACE_DID_CHANGE_WORKSPACE_FOLDERS)
    async def did_change_folders(ls: ExportLintServer, params: types.DidChangeWorkspaceFoldersParams) -> None:
        ls.set_folders()
        await ls.relint_all()

    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix, FIX_ALL_KIND]),
    )
    async def code_action(ls: ExportLintServer, params: types.CodeActionParams) -> list[types.CodeAction]:
        return await ls.code_actions(params)

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    async def hover(ls: ExportLintServer, params: types.HoverParams) -> types.Hover | None:
        return await ls.hover(params)

    return server
