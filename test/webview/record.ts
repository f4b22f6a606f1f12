// Records the analysis data the webview tests feed their pages: run once from a real analysis of the example
// models (`npx tsx test/webview/record.ts`), commit test/webview/data/*.json. The tests never run the engine.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { computeSpectrumState } from '../../server/src/analysis/spectrumData';
import { summariseModel } from '../../server/src/analysis/modelSummary';
import { attackModel, type AttackRequest } from '../../server/src/analysis/attack';
import { attackView } from '../../server/src/analysis/attackView';
import { analyzeModel } from '../../server/src/analysis/analyzeModel';
import { historyEntryOf } from '../../server/src/analysis/checkpointHistory';
import { stepOf } from '../../server/src/workspace/checkpointWatch';

/** The checkpoint history the server keeps, from real analyses of the fixture CNN at each round's weights. */
async function checkpointHistory() {
  const dir = join(root, 'test/fixtures/checkpoints');
  const entries = [];
  for (let k = 1; k <= 4; k++) {
    const name = `rounds/round-${k}.pt`;
    const report = await analyzeModel({
      model: join(dir, 'model.onnx'), weights: join(dir, name), data: join(dir, 'x.npy'), labels: join(dir, 'labels.npy'), batch: 1,
      defences: ['gaussian:std=0.002'], damping: 0, spectrumK: 0, seed: 0, loss: 'cross-entropy', maxSamples: 1,
    });
    entries.push(historyEntryOf({ name, path: join(dir, name), step: stepOf(name) }, report, `recorded-${k}`, new Date(Date.UTC(2026, 11, 7, 3, k)).toISOString()));
  }
  return { config: 'test/fixtures/checkpoints/train.yaml', entries };
}

/** The attack exactly as the server's confirmAttack job runs it (one batch, L-BFGS on the L2 objective), inputs kept. */
const attack = async (config: string, req: Omit<AttackRequest, 'attack' | 'keepInputs' | 'seed' | 'loss'>) =>
  attackView(await attackModel({ seed: 0, loss: 'cross-entropy', ...req, attack: { optimizer: 'lbfgs', objective: 'l2', tv: 0, restarts: 1 }, keepInputs: true }), config);

const root = join(__dirname, '..', '..');
const out = join(__dirname, 'data');

/** 7 significant digits: enough for plots and assertions, a third of the file size. */
const compact = (_: string, v: unknown) => (typeof v === 'number' && Number.isFinite(v) && !Number.isInteger(v) ? Number(v.toPrecision(7)) : v);

async function main(): Promise<void> {
  const which = process.argv.slice(2);
  const jobs: Record<string, () => Promise<unknown>> = {
    'mlp-state': () => computeSpectrumState({
      config: 'examples/flower/pyproject.toml', model: join(root, 'examples/models/mlp.onnx'),
      data: join(root, 'examples/data/digits.npy'), labels: join(root, 'examples/data/digits_labels.npy'),
      defences: ['prune:ratio=0.9', 'gaussian:std=0.002'], damping: 0, seed: 0, loss: 'cross-entropy', sample: 2, k: 8,
    }),
    'lenet-state': () => computeSpectrumState({
      config: 'examples/opacus/train.yaml', model: join(root, 'examples/models/lenet.onnx'),
      data: join(root, 'examples/data/images'), labels: join(root, 'examples/data/images_labels.npy'),
      defences: ['gaussian:std=0.0005'], damping: 0, seed: 0, loss: 'cross-entropy', sample: 0, k: 6, maxSamples: 4,
    }),
    // The example MLP's 28×28 pictures, the prediction solved to convergence.
    'mlp-attack': () => attack('examples/flower/pyproject.toml', {
      model: join(root, 'examples/models/mlp.onnx'), data: join(root, 'examples/data/digits.npy'),
      labels: join(root, 'examples/data/digits_labels.npy'), defences: ['prune:ratio=0.9', 'gaussian:std=0.002'], batch: 1, maxSamples: 1,
    }),
    // The 64-feature MLP fixture (vectors: heat strips), batch 2, the prediction's solve cut to 3 iterations: a real
    // non-converged result.
    'vector-attack-unconverged': () => attack('test/fixtures/models/mlp/train.yaml', {
      model: join(root, 'test/fixtures/models/mlp/model.onnx'), data: join(root, 'test/fixtures/models/mlp/x.npy'),
      labels: join(root, 'test/fixtures/models/mlp/labels.npy'), defences: ['gaussian:std=0.001'], batch: 2, maxIterations: 3,
    }),
    // The text example's token-id model, attacked in embedding space ([8 tokens, 16]): heat strips and decoded words.
    'text-attack': () => attack('examples/text/review.yaml', {
      model: join(root, 'examples/text/tiny_text.onnx'), data: join(root, 'examples/text/samples.txt'), defences: ['gaussian:std=1e-3'],
      batch: 1, maxSamples: 1,
    }),
    // The text example's token-id model on the spectrum page: embedding space, tokens recovered per slider std.
    'text-state': () => computeSpectrumState({
      config: 'examples/text/review.yaml', model: join(root, 'examples/text/tiny_text.onnx'), data: join(root, 'examples/text/samples.txt'),
      defences: ['gaussian:std=0.01'], damping: 0, seed: 0, loss: 'cross-entropy', sample: 1, k: 4,
    }),
    'checkpoint-history': checkpointHistory,
    'mlp-summary': () => summariseModel(join(root, 'examples/models/mlp.onnx')),
    'lenet-summary': () => summariseModel(join(root, 'examples/models/lenet.onnx')),
  };
  for (const [name, job] of Object.entries(jobs)) {
    if (which.length && !which.includes(name)) continue;
    const t0 = performance.now();
    const value = await job();
    // Paths relative to the repository, so the recorded files do not name this machine.
    const text = JSON.stringify(value, compact).split(root + '/').join('');
    writeFileSync(join(out, `${name}.json`), text + '\n');
    console.log(`${name}: ${(text.length / 1024).toFixed(0)} KiB in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
}

void main();
