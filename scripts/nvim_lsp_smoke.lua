-- Drive `export-lint server` from a real Neovim, headless, and write what the editor shows.
--
--   nvim --headless -u scripts/nvim_lsp_smoke.lua FILE.py -c "lua Report('out.txt')"
--
-- Writes the diagnostics Neovim received (row:col source [code] message), the code actions
-- offered at the first one, then applies the preferred quick fix, saves (:write) and records how
-- many diagnostics remain. Works on Neovim 0.7 (vim.lsp.start_client); EXPORT_LINT overrides the
-- command (default: export-lint on PATH). FILE.py is rewritten by the fix: use a copy.
local command = os.getenv("EXPORT_LINT") or "export-lint"
local client_id = vim.lsp.start_client({
  name = "export-lint",
  cmd = { command, "server" },
  root_dir = vim.fn.getcwd(),
})
vim.api.nvim_create_autocmd("FileType", {
  pattern = "python",
  callback = function(args) vim.lsp.buf_attach_client(args.buf, client_id) end,
})

function Report(out)
  local lines = {}
  local shown = vim.wait(20000, function() return #vim.diagnostic.get(0) > 0 end, 100)
  for _, d in ipairs(vim.diagnostic.get(0)) do
    local code = d.code or (d.user_data and d.user_data.lsp and d.user_data.lsp.code) or "?"
    table.insert(lines, string.format("%d:%d %s [%s] %s", d.lnum + 1, d.col + 1, d.source or "?", code, d.message))
  end
  local first = vim.diagnostic.get(0)[1]
  if first then
    local params = {
      textDocument = vim.lsp.util.make_text_document_params(),
      range = { start = { line = first.lnum, character = first.col }, ["end"] = { line = first.end_lnum, character = first.end_col } },
      context = { diagnostics = vim.lsp.diagnostic.get_line_diagnostics(0, first.lnum) },
    }
    local results = vim.lsp.buf_request_sync(0, "textDocument/codeAction", params, 10000) or {}
    local preferred
    for _, response in pairs(results) do
      for _, action in ipairs(response.result or {}) do
        table.insert(lines, "action: " .. action.title .. " (" .. (action.kind or "") .. ")")
        if action.isPreferred and not preferred then preferred = action end
      end
    end
    if preferred then
      vim.lsp.util.apply_workspace_edit(preferred.edit, "utf-16")
      vim.cmd("write")
      local cleared = vim.wait(20000, function() return #vim.diagnostic.get(0) == 0 end, 100)
      table.insert(lines, "after the preferred fix and :write: " .. #vim.diagnostic.get(0) .. " diagnostics" .. (cleared and "" or " (timed out)"))
    end
  end
  table.insert(lines, shown and "ok" or "no diagnostics within 20 s")
  vim.fn.writefile(lines, out)
  vim.cmd("qa!")
end
