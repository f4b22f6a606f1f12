// The built product (dist/) that the process tests run, frozen for the life of one test process: a private copy
// taken the first time a test asks for it. The worktree's dist/ is rebuilt whenever someone lands
// (`git rebase main && npm run build`), possibly while that worktree's tests or benches are still running. A rebuild
// from changed sources changes the engine build in every cache key (server/src/analysis/cache.ts: ENGINE_BUILD;
// models/materialise.ts names its files with it too). A second run in the same test then missed the first run's
// results: audit.test.ts's JSON run found 1 of 7 configs cached (only hf, which shares fedml's key, answered from the
// JSON run's own fedml analysis), and the resnet18 warm run in bench/firstFinding.ts re-analysed for 480 s. A server
// can also fork a worker from a newer bundle than its own. With the copy, every run in a test process uses the
// bundle that was there when its first run started.
//
// Layout: <REPO>/test-results/builds/<pid>-<random>/{package.json, dist/, docs → REPO/docs}. It sits inside the
// repository so the bundles resolve node_modules (onnxruntime-node and other externals) as they do from dist/, and
// it mirrors the repository's layout, which the bundles rely on: the audit reads ../package.json, the server links
// rules to ../docs.

import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';

export const REPO = resolve(__dirname, '../..');
const BUILDS = join(REPO, 'test-results', 'builds');

let frozen: string | undefined;

/** Runs the build when dist/ has no bundle yet (a test file run by hand before any `npm run build`). */
function ensureBuilt(): void {
  if (['cli.js', 'server.js', 'worker.js'].every((f) => existsSync(join(REPO, 'dist', f)))) return;
  const r = spawnSync('npm', ['run', '-s', 'build'], { cwd: REPO, stdio: 'inherit' });
  if (r.status !== 0) throw new Error('npm run build failed');
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A copy of `from` (a dist/ folder) with the repository's package.json and docs beside it, under `into`; removed
 * when this process exits. Copies whose process is gone (killed by the test watchdog) are removed first.
 */
export function freezeBuild(from: string, into: string): string {
  mkdirSync(into, { recursive: true });
  for (const name of readdirSync(into)) {
    const pid = Number(name.split('-')[0]);
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && !alive(pid)) rmSync(join(into, name), { recursive: true, force: true });
  }
  const root = join(into, `${process.pid}-${randomBytes(4).toString('hex')}`);
  cpSync(from, join(root, 'dist'), { recursive: true });
  cpSync(join(REPO, 'package.json'), join(root, 'package.json'));
  symlinkSync(join(REPO, 'docs'), join(root, 'docs'));
  process.once('exit', () => rmSync(root, { recursive: true, force: true }));
  return join(root, 'dist');
}

/** Path of a bundle (`cli.js`, `server.js`, `worker.js`) in this process's frozen copy of dist/. */
export function built(bundle: 'cli.js' | 'server.js' | 'worker.js'): string {
  if (!frozen) {
    ensureBuilt();
    frozen = freezeBuild(join(REPO, 'dist'), BUILDS);
  }
  return join(frozen, bundle);
}
