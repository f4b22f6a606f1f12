// make_private_with_epsilon: the σ Opacus chooses at run time, reproduced from the script (pysource/opacusEpsilonNoise.ts,
// privacy/opacusNoise.ts) and analysed as the run's noise. On Opacus' own image-classifier tutorial (committed unchanged
// in test/fixtures/upstream-python/pytorch+opacus/) the σ must be the one Opacus' get_noise_multiplier returns
// (tools/fixtures/prv_reference.py → test/fixtures/privacy/prv_reference.json); on NVFlare's hello-dp client (N from
// OpenML, not read) and on short scripts, each missing input is named and only the clipping is analysed, as before.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { readPythonFile } from '../../../server/src/pysource/pythonSetup';
import { analysisPlan } from '../../../server/src/config/defences';
import { RULES } from '../../../server/src/config/ruleCatalog';
import { privacyAccount } from '../../../server/src/analysis/privacyAccount';
import { opacusNoiseMultiplier } from '../../../server/src/privacy/opacusNoise';
import type { OpacusNoiseWorkerMessage } from '../../../server/src/privacy/opacusNoiseWorker';
import { useCacheDir } from '../../../server/src/cacheRoot';

const UPSTREAM = join(__dirname, '../../fixtures/upstream-python');
const REFERENCE = JSON.parse(readFileSync(join(__dirname, '../../fixtures/privacy/prv_reference.json'), 'utf8')) as {
  noise: { name: string; accountant: string; noiseMultiplier?: number; steps: number; loaderLength: number; trace?: [number, number][] }[];
};
const reference = (name: string, accountant: string) => REFERENCE.noise.find((c) => c.name === name && c.accountant === accountant)!;

function notebookCode(path: string): string {
  const nb = JSON.parse(readFileSync(path, 'utf8')) as { cells: { cell_type: string; source: string[] | string }[] };
  return nb.cells
    .filter((c) => c.cell_type === 'code')
    .map((c) => (Array.isArray(c.source) ? c.source.join('') : c.source))
    .map((src) => src.split('\n').filter((l) => !/^\s*[!%]/.test(l)).join('\n'))
    .join('\n\n');
}

test("Opacus' building_image_classifier tutorial: the noise is the σ Opacus' make_private_with_epsilon chooses (PRV, ε 50, δ 1e-5, 20 epochs, len 98)", async () => {
  const path = join(UPSTREAM, 'pytorch+opacus', 'tutorials', 'building_image_classifier.ipynb');
  const r = await readPythonFile('/snapshot/opacus/tutorials/building_image_classifier.py', notebookCode(path));
  const setup = r.setup!;
  const opacus = reference('building_image_classifier', 'prv');
  assert.equal(opacus.noiseMultiplier, 0.37197113037109375);
  assert.equal(setup.noiseMultiplier?.value, opacus.noiseMultiplier, 'σ equal to Opacus\' get_noise_multiplier');
  const plan = analysisPlan(setup);
  assert.equal(plan.defences[0].spec, 'dpsgd:clip=1.2,noise=0.371971130371', 'the engine\'s spec, σ to 12 digits');
  const how = "σ 0.372, as Opacus' make_private_with_epsilon chooses it for ε 50, δ 1e-5, 20 epochs, q = 1/len(data_loader) = 1/98 (⌈50000/512⌉), 1960 steps, PRV accountant (the PrivacyEngine's default since Opacus 1.3)";
  assert.ok(plan.defences[0].note?.startsWith(how), plan.defences[0].note);
  const summary = setup.problems.find((p) => p.rule === RULES.dpInCode.code)!;
  assert.ok(summary.message.includes(`noise multiplier 0.371971, ${how}`), summary.message);
  // The finding stays on the clipping argument the call writes (σ is written nowhere), and the RDP account is not run
  // on a σ chosen for Opacus' tighter accountant (it would report the target missed).
  assert.equal(summary.key, setup.clippingNorm?.key);
  assert.equal(privacyAccount(setup), undefined);
});

const script = (loader: string, engine = 'PrivacyEngine(accountant="rdp")', call = 'target_epsilon=3.0, target_delta=1e-5, epochs=15, max_grad_norm=1.0') => `import sys
import torch
from torch.utils.data import DataLoader
from torchvision import datasets
from opacus import PrivacyEngine

train = datasets.MNIST("data", train=True, download=True)
loader = ${loader}
engine = ${engine}
model, optimizer, loader = engine.make_private_with_epsilon(module=model, optimizer=optimizer, data_loader=loader, ${call})
for epoch in range(15):
    for x, y in loader:
        optimizer.step()
`;
const read = async (text: string) => (await readPythonFile('/work/train.py', text)).setup!;

test('PrivacyEngine(accountant="rdp") is read: σ is Opacus\' RDP search (MNIST 60000, batch 256, 15 epochs, ε 3)', async () => {
  const setup = await read(script('DataLoader(train, batch_size=256, shuffle=True)'));
  assert.equal(setup.noiseMultiplier?.value, reference('mnist_typical', 'rdp').noiseMultiplier);
  assert.match(analysisPlan(setup).defences[0].note ?? '', /q = 1\/len\(data_loader\) = 1\/235 \(⌈60000\/256⌉\), 3525 steps, RDP accountant;/);
});

test('drop_last=True: len(data_loader) is ⌊N/B⌋, and σ is searched at that rate', async () => {
  const setup = await read(script('DataLoader(train, batch_size=256, shuffle=True, drop_last=True)'));
  const expected = opacusNoiseMultiplier({ targetEpsilon: 3, targetDelta: 1e-5, sampleRate: 1 / 234, epochs: 15, accountant: 'rdp' });
  assert.equal(expected.kind, 'found');
  assert.equal(setup.noiseMultiplier?.value, expected.kind === 'found' ? expected.noiseMultiplier : NaN);
  assert.notEqual(setup.noiseMultiplier?.value, reference('mnist_typical', 'rdp').noiseMultiplier, 'a different q gives a different σ');
  assert.match(analysisPlan(setup).defences[0].note ?? '', /1\/234 \(⌊60000\/256⌋ \(drop_last=True\)\), 3509 steps/);
});

test('anything unknown: clipping only, and the note names what is missing', async () => {
  const cases: [string, RegExp][] = [
    [script('DataLoader(train, batch_size=256, drop_last=bool(sys.argv[1]))'), /drop_last: `bool\(sys\.argv\[1\]\)` is set at run time/],
    [script('DataLoader(train, batch_size=256, sampler=torch.utils.data.RandomSampler(train))'), /has a `sampler`, which sets len\(data_loader\)/],
    [script('DataLoader(train, batch_size=256)', 'make_engine()'), /no `PrivacyEngine\(…\)` call in this script says which accountant/],
    [script('DataLoader(train, batch_size=256)', 'PrivacyEngine(accountant=sys.argv[2])'), /the PrivacyEngine's accountant: `sys\.argv\[2\]` is set at run time/],
    [script('DataLoader(train, batch_size=256)', undefined, 'target_epsilon=3.0, target_delta=1e-5, epochs=15, max_grad_norm=1.0, epsilon_tolerance=0.001'), /passes `epsilon_tolerance` on to get_noise_multiplier/],
    [script('DataLoader(train, batch_size=256)', undefined, 'target_epsilon=float(sys.argv[3]), target_delta=1e-5, epochs=15, max_grad_norm=1.0'), /`target_epsilon`: `float\(sys\.argv\[3\]\)` is set at run time/],
  ];
  for (const [text, why] of cases) {
    const setup = await read(text);
    assert.equal(setup.noiseMultiplier, undefined, String(why));
    const d = analysisPlan(setup).defences[0];
    assert.equal(d.spec, 'dpsgd:clip=1,noise=0');
    assert.match(d.note ?? '', /^The noise multiplier is chosen at run time from target_epsilon and is not reproduced here: /);
    assert.match(d.note ?? '', why);
    assert.match(d.note ?? '', /Only the clipping is analysed\.$/);
  }
});

test("NVFlare's hello-dp client (N from OpenML): σ not reproduced, the note says N is not read", async () => {
  const file = join(UPSTREAM, 'NVIDIA+NVFlare', 'examples', 'hello-world', 'hello-dp', 'client.py');
  const setup = (await readPythonFile(file, readFileSync(file, 'utf8'))).setup!;
  assert.equal(setup.noiseMultiplier, undefined);
  const d = analysisPlan(setup).defences.find((x) => x.kind === 'dpsgd');
  assert.match(d?.note ?? '', /not reproduced here: .*(training set size N|not traced to a `DataLoader)/);
});

test('the bundled worker (dist/opacusNoiseWorker.js, where the server runs the search off its thread) answers as the thread does, each σ tried reported in Opacus\' order', async () => {
  const { built } = await import('../../support/builtProduct');
  const { Worker } = await import('node:worker_threads');
  const file = join(dirname(built('worker.js')), 'opacusNoiseWorker.js');
  const query = { targetEpsilon: 1, targetDelta: 1e-5, sampleRate: 1 / 100, epochs: 10, accountant: 'prv' as const };
  const worker = new Worker(file);
  const steps: [number, number][] = [];
  const answer = await new Promise((resolve, reject) => {
    worker.on('message', (m: OpacusNoiseWorkerMessage) => (m.kind === 'step' ? steps.push([m.sigma, m.step]) : resolve(m.answer)));
    worker.once('error', reject);
    worker.postMessage(query);
  });
  await worker.terminate();
  assert.deepEqual(answer, opacusNoiseMultiplier(query));
  const opacus = reference('small_budget', 'prv');
  assert.equal((answer as { noiseMultiplier: number }).noiseMultiplier, opacus.noiseMultiplier);
  // The σ the progress item shows: those Opacus' own get_noise_multiplier evaluated, in its order (its trace).
  assert.deepEqual(steps.map(([sigma]) => sigma), opacus.trace!.map(([sigma]) => sigma));
  assert.deepEqual(steps.map(([, k]) => k), steps.map((_, i) => i + 1));
});

test("the editor's first reading (noiseSearch 'later'): the clipping-only setup with the query to search, said as such; then, searched, Opacus' σ", async () => {
  // A budget no other test in this process asks (the σ memo is per process and per cache folder): the tutorial with
  // EPSILON = 10.0 and EPOCHS = 1, as test/protocol/epsilonFirst.test.ts opens it.
  useCacheDir(mkdtempSync(join(tmpdir(), 'i2f-sigma-')));
  try {
    const path = join(UPSTREAM, 'pytorch+opacus', 'tutorials', 'building_image_classifier.ipynb');
    const code = notebookCode(path).replace('EPSILON = 50.0', 'EPSILON = 10.0').replace('EPOCHS = 20', 'EPOCHS = 1');
    const file = '/snapshot/opacus/tutorials/building_image_classifier_short.py';
    const first = (await readPythonFile(file, code, { noiseSearch: 'later' })).setup!;
    assert.equal(first.noiseMultiplier, undefined, 'no σ yet');
    assert.deepEqual(first.noiseFromTarget?.pending?.query, { targetEpsilon: 10, targetDelta: 1e-5, sampleRate: 1 / 98, epochs: 1, accountant: 'prv' });
    const budget = "ε 10, δ 1e-5, 1 epochs, q = 1/len(data_loader) = 1/98 (⌈50000/512⌉), 98 steps, PRV accountant (the PrivacyEngine's default since Opacus 1.3)";
    assert.equal(first.noiseFromTarget?.pending?.budget, budget);
    // Graded as with no noise at all (the least comforting reading), and said so.
    const plan = analysisPlan(first);
    assert.equal(plan.defences[0].spec, 'dpsgd:clip=1.2,noise=0');
    assert.equal(plan.defences[0].note, `σ, as Opacus' make_private_with_epsilon chooses it for ${budget}, is not yet derived: the noise is not counted, only the clipping is analysed.`);
    assert.match(first.problems.find((p) => p.rule === RULES.dpInCode.code)!.message, /Noise: the σ Opacus chooses from the target ε is not yet derived, so no noise is counted \(clipping only\)\./);
    // The default ('wait', i2f audit) searches: Opacus' σ for that budget (tools/fixtures/prv_reference.py).
    const searched = (await readPythonFile(file, code)).setup!;
    assert.equal(searched.noiseMultiplier?.value, reference('building_image_classifier_short', 'prv').noiseMultiplier);
    assert.equal(searched.noiseFromTarget?.pending, undefined);
    // Now remembered: the editor's reading has σ at once.
    assert.equal((await readPythonFile(file, code, { noiseSearch: 'later' })).setup!.noiseMultiplier?.value, searched.noiseMultiplier?.value);
  } finally {
    useCacheDir(undefined);
  }
});
