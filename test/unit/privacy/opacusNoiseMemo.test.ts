// Opacus' σ search is remembered on disk (privacy/opacusNoise.ts, defaultCacheDir()/opacus-noise/): a second process
// (another `i2f audit`, a notebook reopened, another test file) gets the answer without searching again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const MODULE = join(__dirname, '../../../server/src/privacy/opacusNoise.ts');
// An RDP search (fast): MNIST-like q = 1/235, 10 epochs, ε 3.
const QUERY = { targetEpsilon: 3, targetDelta: 1e-5, sampleRate: 1 / 235, epochs: 10, accountant: 'rdp' };

/** Runs `expr` (with `m`, the module, and `q`, the query) in a fresh Node process with I2F_CACHE_DIR=dir; its JSON. */
function inProcess(dir: string, expr: string): unknown {
  const code = `import('${MODULE}').then((mod) => { const m = mod.knownOpacusNoise ? mod : mod.default; const q = ${JSON.stringify(QUERY)}; process.stdout.write(JSON.stringify(${expr})); })`;
  return JSON.parse(execFileSync(process.execPath, ['--import', 'tsx', '-e', code], { env: { ...process.env, I2F_CACHE_DIR: dir }, encoding: 'utf8' }));
}

test('an answer searched in one process is known to the next, from the cache folder', () => {
  const dir = mkdtempSync(join(tmpdir(), 'i2f-sigma-'));
  assert.equal(inProcess(dir, 'm.knownOpacusNoise(q) ?? null'), null, 'nothing known before any search');
  const found = inProcess(dir, 'm.cachedOpacusNoiseMultiplier(q)') as { kind: string; noiseMultiplier: number };
  assert.equal(found.kind, 'found');
  assert.equal(inProcess(dir, 'm.opacusNoiseMultiplier(q).noiseMultiplier'), found.noiseMultiplier, 'the stored answer is the search\'s');
  const files = readdirSync(join(dir, 'opacus-noise'));
  assert.equal(files.length, 1);
  // The next process reads the file rather than searching: an answer changed on disk is what it returns.
  const file = join(dir, 'opacus-noise', files[0]);
  const stored = JSON.parse(readFileSync(file, 'utf8'));
  writeFileSync(file, JSON.stringify({ ...stored, answer: { ...stored.answer, noiseMultiplier: 123 } }));
  assert.equal((inProcess(dir, 'm.cachedOpacusNoiseMultiplier(q)') as { noiseMultiplier: number }).noiseMultiplier, 123);
  // Another query is not answered from it; a damaged file is searched again.
  assert.equal(inProcess(dir, 'm.knownOpacusNoise({ ...q, targetEpsilon: 4 }) ?? null'), null);
  writeFileSync(file, '{"key": ');
  assert.equal((inProcess(dir, 'm.cachedOpacusNoiseMultiplier(q)') as { noiseMultiplier: number }).noiseMultiplier, found.noiseMultiplier);
});

test('a run that asked for no cache (i2f audit --no-cache) keeps nothing on disk; one with --cache-dir keeps it there', () => {
  const dir = mkdtempSync(join(tmpdir(), 'i2f-sigma-'));
  const chosen = mkdtempSync(join(tmpdir(), 'i2f-sigma-chosen-'));
  const cacheRoot = join(__dirname, '../../../server/src/cacheRoot.ts');
  const run = (setup: string) =>
    execFileSync(process.execPath, ['--import', 'tsx', '-e', `Promise.all([import('${cacheRoot}'), import('${MODULE}')]).then(([c, n]) => { const root = c.useCacheDir ? c : c.default; const m = n.cachedOpacusNoiseMultiplier ? n : n.default; ${setup}; m.cachedOpacusNoiseMultiplier(${JSON.stringify(QUERY)}); })`], { env: { ...process.env, I2F_CACHE_DIR: dir } });
  run('root.useCacheDir(null)');
  assert.deepEqual(readdirSync(dir), [], 'nothing written under the default folder');
  run(`root.useCacheDir(${JSON.stringify(chosen)})`);
  assert.deepEqual(readdirSync(dir), []);
  assert.equal(readdirSync(join(chosen, 'opacus-noise')).length, 1, 'the answer kept in the chosen folder');
});
