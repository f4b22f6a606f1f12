// The Python DP reader on real code written by others: the DP examples of Opacus, TensorFlow Privacy, Flower and Optax
// (expected call sites, values and where each value is written, per file), and a few hundred files of ordinary Python
// (Debian's own /usr/lib/python3/dist-packages) that must yield no call site at all.
//
// The upstream files are committed unchanged under test/fixtures/upstream-python/<owner>+<name>/ (taken at the commits
// below; sources and licences in its README), so every machine runs every case.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readPythonFile } from '../../../server/src/pysource/pythonSetup';
import type { TrainingSetup } from '../../../server/src/config/trainingSetup';

const UPSTREAM = join(__dirname, '../../fixtures/upstream-python');

interface Expected {
  repo: string;
  commit: string;
  path: string;
  /** Recognised call names with their 1-based lines. */
  sites: string[];
  noise?: number;
  clip?: number;
  microbatches?: number;
  /** The batch size, read from the DataLoader the DP call's data_loader= names (Opacus). */
  batch?: number;
  /** How the noise value is written: 'literal', 'flag-default', 'run-config'. */
  noiseSource?: string;
  /** Arguments reported as set at run time (I2F141). */
  runtime?: string[];
}

const OPACUS = { repo: 'pytorch/opacus', commit: '4d0ebc84613d214fbfd37fbfd1390e3747a625ce' };
const TFP = { repo: 'tensorflow/privacy', commit: '03035d5d4a271ac795dab80f5bc1cef82fc3d462' };
const OPTAX = { repo: 'google-deepmind/optax', commit: '2edbcbe2390da13983b92cbef94ac0460ecde1c5' };
const FLOWER = { repo: 'adap/flower', commit: 'fdef7afb1dca3030553be302366cfd285ed6632c' };

const EXPECTED: Expected[] = [
  { ...OPACUS, path: 'examples/mnist.py', sites: ['PrivacyEngine@252', 'make_private@253'], noise: 1, clip: 1, batch: 64, noiseSource: 'flag-default' },
  { ...OPACUS, path: 'examples/imdb.py', sites: ['PrivacyEngine@271', 'make_private@275'], noise: 0.56, clip: 1, batch: 64, noiseSource: 'flag-default' },
  { ...OPACUS, path: 'examples/char-lstm-classification.py', sites: ['PrivacyEngine@438', 'make_private@439'], noise: 1, clip: 1.5, noiseSource: 'flag-default' },
  // `opt = parser.parse_args()`: flags read through a name of the script's own choosing.
  { ...OPACUS, path: 'examples/dcgan.py', sites: ['PrivacyEngine@273', 'make_private@275'], noise: 1, clip: 1, noiseSource: 'flag-default' },
  // Per-layer clipping norms computed from the flag: said to be set at run time, the noise still read.
  { ...OPACUS, path: 'examples/cifar10.py', sites: ['PrivacyEngine@349', 'make_private@353'], noise: 1.5, noiseSource: 'flag-default', runtime: ['max_grad_norm'] },
  { ...OPACUS, path: 'examples/fsdp_example.py', sites: ['PrivacyEngine@130', 'make_private@135'], noise: 1, clip: 1, noiseSource: 'literal' },
  { ...OPACUS, path: 'examples/mnist_lightning.py', sites: ['PrivacyEngine@85', 'make_private@111'], noise: 1, clip: 1, noiseSource: 'literal', runtime: ['poisson_sampling'] },
  { ...TFP, path: 'tutorials/mnist_dpsgd_tutorial_keras.py', sites: ['DPKerasSGDOptimizer@114'], noise: 0.1, clip: 1, microbatches: 250, noiseSource: 'flag-default' },
  { ...TFP, path: 'tutorials/mnist_dpsgd_tutorial_keras_model.py', sites: ['DPSequential@113'], noise: 0.1, clip: 1, microbatches: 250, noiseSource: 'flag-default' },
  { ...TFP, path: 'tutorials/mnist_dpsgd_tutorial.py', sites: ['DPGradientDescentGaussianOptimizer@63', 'compute_dp_sgd_privacy@124'], noise: 1.1, clip: 1, microbatches: 256, noiseSource: 'flag-default', runtime: ['epochs'] },
  { ...TFP, path: 'tutorials/mnist_dpsgd_tutorial_vectorized.py', sites: ['VectorizedDPSGD@98'], noise: 1.1, clip: 1, microbatches: 200, noiseSource: 'flag-default' },
  { ...TFP, path: 'tutorials/movielens_tutorial.py', sites: ['DPAdamGaussianOptimizer@98'], noise: 0.55, clip: 5, microbatches: 10000, noiseSource: 'flag-default' },
  { ...TFP, path: 'tutorials/lm_dpsgd_tutorial.py', sites: ['DPAdamGaussianOptimizer@90'], noise: 0.001, clip: 1, microbatches: 256, noiseSource: 'flag-default' },
  { ...FLOWER, path: 'examples/fl-dp-sa/fl_dp_sa/server_app.py', sites: ['DifferentialPrivacyClientSideFixedClipping@56', 'SecAggPlusWorkflow@72'], noise: 0.2, clip: 10, noiseSource: 'run-config' },
  { ...FLOWER, path: 'examples/fl-dp-sa/fl_dp_sa/client_app.py', sites: ['secaggplus_mod@48', 'fixedclipping_mod@49'] },
  { ...FLOWER, path: 'examples/opacus/opacus_fl/client_app.py', sites: ['PrivacyEngine@50', 'make_private@51'], noise: 1, clip: 1, noiseSource: 'literal' },
];

function snapshot(repo: string): string {
  return join(UPSTREAM, repo.replace('/', '+'));
}

/** The file as committed from `repo` at `commit` (the commit is the one the README records for that folder). */
function gitShow(repo: string, _commit: string, path: string): string {
  return readFileSync(join(snapshot(repo), path), 'utf8');
}

/** The file and, for a Flower app, its pyproject.toml, as the reader would find them on disk. */
function readerFor(e: Expected): { file: string; text: string; readText: (p: string) => string | undefined } {
  const file = join('/snapshot', e.repo, e.path);
  const text = gitShow(e.repo, e.commit, e.path);
  const readText = (p: string): string | undefined => {
    const rel = p.startsWith(join('/snapshot', e.repo) + '/') ? p.slice(join('/snapshot', e.repo).length + 1) : undefined;
    if (!rel) return undefined;
    try {
      return gitShow(e.repo, e.commit, rel);
    } catch {
      return undefined;
    }
  };
  return { file, text, readText };
}

function check(e: Expected, setup: TrainingSetup | null, sites: string[]): void {
  assert.deepEqual(sites, e.sites, `${e.path}: call sites`);
  if (e.noise !== undefined) {
    assert.equal(setup?.noiseMultiplier?.value, e.noise, `${e.path}: noise multiplier`);
    assert.equal(setup?.noiseMultiplier?.fromCode?.source.kind, e.noiseSource, `${e.path}: where the noise is written`);
  }
  if (e.clip !== undefined) assert.equal(setup?.clippingNorm?.value, e.clip, `${e.path}: clipping norm`);
  if (e.microbatches !== undefined) assert.equal(setup?.microbatches?.value, e.microbatches, `${e.path}: microbatches`);
  if (e.batch !== undefined) assert.equal(setup?.batchSize?.value, e.batch, `${e.path}: batch size`);
  const runtime = (setup?.problems ?? []).filter((p) => p.rule === 'I2F141').map((p) => p.key);
  assert.deepEqual(runtime, e.runtime ?? [], `${e.path}: arguments set at run time`);
}

for (const repo of [...new Set(EXPECTED.map((e) => e.repo))]) {
  test(`${repo}'s DP examples: call sites, values and where each is written`, async () => {
    for (const e of EXPECTED.filter((x) => x.repo === repo)) {
      const { file, text, readText } = readerFor(e);
      const r = await readPythonFile(file, text, { readText });
      check(e, r.setup, r.sites.map((s) => `${s.name}@${s.range.start.line + 1}`));
    }
  });
}

test("Flower's opacus app: both noise branches kept, the clipping norm read from its pyproject.toml", async () => {
  const e = EXPECTED.find((x) => x.path === 'examples/opacus/opacus_fl/client_app.py')!;
  const { file, text, readText } = readerFor(e);
  const r = await readPythonFile(file, text, { readText });
  const s = r.setup!;
  // `noise = 1.0 if pid % 2 == 0 else 1.5` in _partition_loaders(), returned as the second element of a tuple.
  assert.deepEqual(s.noiseMultiplier?.fromCode?.alternatives.map((a) => a.value), [1, 1.5]);
  assert.equal(s.noiseMultiplier?.keyRange.start.line + 1, 55);
  assert.equal(s.clippingNorm?.fromCode?.source.key, 'max-grad-norm');
  assert.equal(s.clippingNorm?.fromCode?.source.file, join('/snapshot', FLOWER.repo, 'examples/opacus/pyproject.toml'));
  assert.equal(r.modelClass?.factory, 'opacus_fl.task:Net');
});

test("Flower's fl-dp-sa server app: central DP on the server behind SecAgg+, both read from code", async () => {
  const e = EXPECTED.find((x) => x.path === 'examples/fl-dp-sa/fl_dp_sa/server_app.py')!;
  const { file, text, readText } = readerFor(e);
  const s = (await readPythonFile(file, text, { readText })).setup!;
  assert.equal(s.dpSite, 'server');
  assert.equal(s.secureAggregation?.key, 'SecAggPlusWorkflow');
  assert.equal(s.numSampledClients?.value, 20);
  assert.equal(s.numSampledClients?.fromCode?.source.key, 'num-sampled-clients');
});

test('Optax\'s DP-SGD notebook (its code cells): constants passed to contrib.dpsgd', async () => {
  const nb = JSON.parse(gitShow(OPTAX.repo, OPTAX.commit, 'examples/contrib/differentially_private_sgd.ipynb')) as { cells: { cell_type: string; source: string[] | string }[] };
  const code = nb.cells.filter((c) => c.cell_type === 'code').map((c) => (Array.isArray(c.source) ? c.source.join('') : c.source)).join('\n');
  const r = await readPythonFile('/snapshot/optax/differentially_private_sgd.py', code);
  assert.deepEqual(r.sites.map((s) => s.name), ['dpsgd']);
  assert.equal(r.setup?.noiseMultiplier?.value, 1.3);
  assert.equal(r.setup?.clippingNorm?.value, 1.5);
  assert.equal(r.setup?.noiseMultiplier?.fromCode?.source.kind, 'literal');
});

/** Every 20th .py file over 1 kB of Debian's Python packages (sorted, so the list is the same each run). */
function ordinaryPython(): string[] {
  const root = '/usr/lib/python3/dist-packages';
  if (!existsSync(root)) return [];
  const out: string[] = [];
  const stack = [root];
  while (stack.length) {
    const dir = stack.pop()!;
    for (const name of readdirSync(dir).sort().reverse()) {
      const p = join(dir, name);
      const st = statSync(p, { throwIfNoEntry: false });
      if (!st) continue;
      if (st.isDirectory()) stack.push(p);
      else if (name.endsWith('.py') && st.size > 1024 && !/opacus|flwr|optax|tensorflow_privacy|dp_transformers/.test(p)) out.push(p);
    }
  }
  return out.sort().filter((_, i) => i % 20 === 19);
}

test('ordinary Python (a few hundred files of Debian\'s dist-packages) yields no DP call site', async (t) => {
  const files = ordinaryPython();
  if (files.length < 100) return t.skip(`only ${files.length} files under /usr/lib/python3/dist-packages`);
  let mentions = 0;
  for (const f of files) {
    const text = readFileSync(f, 'utf8');
    // Parsed whole even when they name no DP library (the reader's own shortcut would skip most of them).
    const r = await readPythonFile(f, text, { parseAll: true });
    if (/opacus|tensorflow|flwr|optax|dp_transformers/.test(text)) mentions++;
    assert.equal(r.setup, null, `${f}: ${r.sites.map((s) => s.name).join(', ')}`);
    assert.equal(r.sites.length, 0, f);
  }
  t.diagnostic(`${files.length} files parsed, ${mentions} of them mention a DP library's name`);
});
