// The Debian packages the tests run (not npm packages: those come from package-lock.json), how to tell each is
// there, and installing the missing ones where that is possible: as root with apt-get, as on CI. Used by `npm test`
// (tools/test.mjs) and the editor tests' installer (tools/e2e/install.sh):
//   node tools/testing/prerequisites.mjs ensure tests|editor   install what is missing (root), else say what and how
//   node tools/testing/prerequisites.mjs check tests|editor    list what is missing, exit 1 if anything is
// I2F_TEST_INSTALL=0 never installs (then the tests that need a missing package are skipped, and counted).
// The checks look for what the tests use (a command on PATH, a module /usr/bin/python3 imports, a data folder), not dpkg's
// records, so they hold on any distribution that provides the same things.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Debian's python with python3-torch & co.: the tests that need PyTorch run it by this path (TESTING.md). */
export const DEBIAN_PYTHON = '/usr/bin/python3';

const onPath = (command) => (process.env.PATH ?? '').split(delimiter).some((dir) => {
  try { accessSync(join(dir, command), constants.X_OK); return true; } catch { return false; }
});

/** name → what it is for, and a check (a command on PATH, a module Debian's python must import, or a path). */
export const PACKAGES = {
  chromium: { for: 'the browser tests (webview pages, the HTML report) and the editor tests', command: 'chromium' },
  neovim: { for: 'the neovim LSP smoke test', command: 'nvim' },
  procps: { for: 'the fault tests (ps finds orphaned processes)', command: 'ps' },
  'python3-torch': { for: 'the Python bridge tests (Debian\'s PyTorch exports the workspace\'s model)', module: 'torch' },
  'python3-torchvision': { for: 'the Python bridge tests (torchvision models)', module: 'torchvision' },
  'python3-scipy': { for: 'the Python bridge tests', module: 'scipy' },
  'python3-onnx': { for: 'the Python bridge tests (onnx-python)', module: 'onnx' },
  'libonnx-testdata': { for: 'ONNX\'s own PyTorch-converted test models (test/unit/onnx-io/libonnxTestdata.test.ts)', path: '/usr/share/libonnx-testdata/data' },
  'build-essential': { for: 'code-server\'s native modules (node-pty, kerberos, …) build from source', command: 'g++', also: ['make'] },
  'pkg-config': { for: 'code-server\'s native modules', command: 'pkg-config' },
  python3: { for: 'node-gyp, which builds code-server\'s native modules', command: 'python3' },
  'libkrb5-dev': { for: 'code-server\'s kerberos module builds against its headers', command: 'krb5-config' },
};

/** What each test command needs. `tests`: npm test's suites; `editor`: npm run test:e2e (code-server's build too). */
export const NEEDS = {
  tests: ['chromium', 'neovim', 'procps', 'python3-torch', 'python3-torchvision', 'python3-scipy', 'python3-onnx', 'libonnx-testdata'],
  editor: ['chromium', 'neovim', 'build-essential', 'pkg-config', 'python3', 'libkrb5-dev'],
};

/** The packages of `names` that are not there. */
export function missingPackages(names) {
  const modules = names.filter((n) => PACKAGES[n].module);
  let absentModules = new Set(modules);
  if (modules.length) {
    const script = `import importlib\nfor m in ${JSON.stringify(modules.map((n) => PACKAGES[n].module))}:\n    try:\n        importlib.import_module(m)\n        print(m)\n    except Exception:\n        pass\n`;
    const r = spawnSync(DEBIAN_PYTHON, ['-c', script], { encoding: 'utf8', timeout: 120_000 });
    const present = new Set(r.status === 0 ? r.stdout.split('\n').filter(Boolean) : []);
    absentModules = new Set(modules.filter((n) => !present.has(PACKAGES[n].module)));
  }
  return names.filter((n) => {
    const p = PACKAGES[n];
    if (p.module) return absentModules.has(n);
    if (p.path) return !existsSync(p.path);
    return ![p.command, ...(p.also ?? [])].every(onPath);
  });
}

/** Whether this process may install Debian packages itself: root, apt-get on PATH, and not told otherwise. */
export function canInstall() {
  return process.getuid?.() === 0 && onPath('apt-get') && process.env.I2F_TEST_INSTALL !== '0';
}

/** The one command that installs `names` for a user who is not root. */
export const installCommand = (names) => `sudo apt-get install -y --no-install-recommends ${names.join(' ')}`;

/**
 * Installs what `names` lacks when it may (canInstall), else leaves it missing.
 * @returns {{ missing: string[], installed: string[], error?: string }} what is still missing, what was installed,
 *   and why an install failed (the apt command, its exit status and its last lines).
 */
export function ensurePackages(names, log = (s) => console.error(s)) {
  const missing = missingPackages(names);
  if (!missing.length || !canInstall()) return { missing, installed: [] };
  log(`Installing the Debian packages the tests need (root with apt-get; I2F_TEST_INSTALL=0 would skip those tests instead): ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const apt = (args) => {
    const r = spawnSync('apt-get', args, { env, encoding: 'utf8', maxBuffer: 64 << 20 });
    return r.status === 0 ? undefined : `apt-get ${args.join(' ')} exited ${r.status ?? r.signal}: ${`${r.stderr}\n${r.stdout}`.trim().split('\n').slice(-8).join('\n')}`;
  };
  // An install without a fresh package list fails on a new machine (no lists) or an old one (moved versions).
  const error = apt(['update', '-qq']) ?? apt(['install', '-y', '-qq', '--no-install-recommends', ...missing]);
  const still = missingPackages(names);
  const installed = missing.filter((n) => !still.includes(n));
  if (installed.length) log(`Installed: ${installed.join(' ')}`);
  return { missing: still, installed, error: error ?? (still.length ? `apt-get reported success but ${still.join(', ')} still missing` : undefined) };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [verb, group] = process.argv.slice(2);
  const names = NEEDS[group];
  if (!names || (verb !== 'ensure' && verb !== 'check')) {
    console.error('usage: node tools/testing/prerequisites.mjs ensure|check tests|editor');
    process.exit(2);
  }
  const { missing, error } = verb === 'ensure' ? ensurePackages(names) : { missing: missingPackages(names) };
  if (error) console.error(`Installing Debian packages failed: ${error}`);
  if (missing.length) {
    console.error(`Missing Debian packages: ${missing.map((n) => `${n} (${PACKAGES[n].for})`).join('; ')}`);
    console.error(`Install them: ${installCommand(missing)}${canInstall() ? '' : ' (or run this as root, which installs them)'}`);
    process.exit(1);
  }
}
