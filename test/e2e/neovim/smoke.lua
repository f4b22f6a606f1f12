-- Neovim (Debian 0.7) as a client that is not ours: start the built server over stdio on a copy of examples/, open
-- the Flower config, wait for the I2F001 diagnostic, ask for the hover on the noise line, write what came back as
-- JSON to $I2F_OUT and quit. Driven by test/e2e/neovim.test.ts.
local root = os.getenv('I2F_WORKSPACE')
local result = { diagnostics = {}, hover = vim.NIL, error = vim.NIL }

local function finish()
  local f = io.open(os.getenv('I2F_OUT'), 'w')
  f:write(vim.fn.json_encode(result))
  f:close()
  vim.cmd('qall!')
end

local ok, err = pcall(function()
  local client_id = vim.lsp.start_client({
    name = 'i2f',
    cmd = { os.getenv('I2F_NODE'), os.getenv('I2F_SERVER'), '--stdio' },
    root_dir = root,
    init_options = { storagePath = root .. '/.i2f-storage', trusted = true },
    -- Answers the server's workspace/configuration pull for the 'i2f' section.
    settings = { i2f = { enable = true, workerCount = 1, maxSamples = 1, targetPsnr = 15, damping = 0,
      thresholds = { high = 20, medium = 12 }, maxModelSizeMB = 512, provisionalFindings = false } },
    -- Neovim 0.7 answers workspace/configuration without advertising it, so the server cannot pull; like
    -- nvim-lspconfig, push the settings once the server is up (the server reads them from didChangeConfiguration).
    on_init = function(client)
      client.notify('workspace/didChangeConfiguration', { settings = client.config.settings })
    end,
  })
  assert(client_id, 'the server did not start')
  vim.cmd('edit ' .. root .. '/flower/pyproject.toml')
  vim.lsp.buf_attach_client(0, client_id)
  local found = vim.wait(90000, function()
    for _, d in ipairs(vim.diagnostic.get(0)) do
      if d.code == 'I2F001' then return true end
    end
    return false
  end, 100)
  for _, d in ipairs(vim.diagnostic.get(0)) do
    table.insert(result.diagnostics, { code = d.code, lnum = d.lnum, severity = d.severity, message = d.message, source = d.source })
  end
  assert(found, 'no I2F001 diagnostic within 90 s')
  local replies = vim.lsp.buf_request_sync(0, 'textDocument/hover', {
    textDocument = { uri = vim.uri_from_bufnr(0) }, position = { line = 21, character = 3 },
  }, 15000)
  for _, r in pairs(replies or {}) do
    if r.result then result.hover = r.result end
  end
  vim.lsp.stop_client(client_id)
end)
if not ok then result.error = tostring(err) end
finish()
