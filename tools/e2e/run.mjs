// `npm run test:e2e`: the tests that need a real editor. Installs the tools (tools/e2e/install.sh, idempotent),
// packages the .vsix (npm run package), then runs test/e2e (code-server + Chromium, neovim) and the @vscode/test-cli
// integration suite in the real extension host (tools/e2e/integration.mjs).
//   node tools/e2e/run.mjs               always runs them (and installs what is missing)
//   node tools/e2e/run.mjs --if-enabled  `npm test`'s hook: runs them when CI=true or code-server is installed,
//                                        otherwise says how to enable them and exits 0
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

const tools = process.env.I2F_E2E_TOOLS ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'i2f-e2e');
const installed = existsSync(join(tools, 'code-server/node_modules/code-server/out/node/entry.js'));
if (process.argv.includes('--if-enabled') && process.env.CI !== 'true' && !installed) {
  console.log('e2e: skipped (code-server not installed; `npm run test:e2e` installs it and runs the editor tests)');
  process.exit(0);
}

const run = (cmd, args, env = {}) => spawnSync(cmd, args, { stdio: 'inherit', env: { ...process.env, ...env } }).status ?? 1;
if (run('bash', ['tools/e2e/install.sh']) !== 0) process.exit(1);
if (run(process.execPath, ['tools/package.mjs']) !== 0) process.exit(1);
const failures = [
  run(process.execPath, ['tools/run-tests.mjs', 'test/e2e'], { I2F_E2E_TOOLS: tools }),
  run(process.execPath, ['tools/e2e/integration.mjs'], { I2F_E2E_TOOLS: tools }),
].filter((s) => s !== 0).length;
process.exit(failures ? 1 : 0);
