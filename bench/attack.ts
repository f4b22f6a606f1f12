// The bench's attack rows (issue 8): the gradient-inversion attack I²F predicts, timed on the engine beside
// PyTorch running the same attack (bench/pytorch_reference.py --attack): same model, batch, labels and δ (the
// product child's bench/out/inputs/<model>), same start (written here as attack_start.npy), the DLG L2 objective
// ‖g(x) − (g0 + δ)‖² and L-BFGS (strong Wolfe, history 100, first step 1, no tolerance stop) for the same number of
// iterations. Runs in its own child process (bench/run.ts --attack-child) after the model's product child.

import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { OnnxModel } from '../server/src/backends/onnx/onnxModel';
import { oneHot } from '../server/src/analysis/inputs';
import { runAttack } from '../server/src/engine/attack';
import { Random } from '../server/src/engine/random';
import { readNpy, writeNpy } from '../server/src/formats/npy';
import { readSafetensors } from '../server/src/formats/safetensors';
import { BENCH_MODELS, OUT, ROOT } from './common';

/** The models the attack rows cover (issue 8: MLP and LeNet); larger ones would take minutes per attack. */
export const ATTACK_MODELS = ['mlp', 'lenet'];

export interface AttackBenchResult {
  name: string;
  /** Iteration budget; the stopping rule is that budget or a failed line search, as on the PyTorch side. */
  maxSteps: number;
  steps: number;
  /** Objective evaluations: one g(x) and one J(x)·(g(x) − g*) product each. */
  evaluations: number;
  ms: number;
  stepsPerSecond: number;
  evaluationsPerSecond: number;
  stopReason: string;
  initialLoss: number;
  loss: number;
  /** ‖x − x0‖/√d_x of what the attack rebuilt. */
  rmse: number;
  inputSize: number;
  /** Session build and first products before the timed run (the PyTorch side warms up too). */
  warmupMs: number;
}

/** Reads the inputs the model's product child wrote; the attack must see the same batch and δ as the analysis. */
async function benchInputs(name: string) {
  const dir = path.join(OUT, 'inputs', name);
  if (!existsSync(path.join(dir, 'delta.safetensors'))) throw new Error(`${dir} has no inputs: the model's product child writes them first`);
  const x = (await readNpy(path.join(dir, 'x.npy'))).data as Float32Array;
  const labels = Array.from((await readNpy(path.join(dir, 'labels.npy'))).data as BigInt64Array, Number);
  const { tensors } = await readSafetensors(path.join(dir, 'delta.safetensors'));
  return { dir, x, labels, tensors };
}

export async function measureAttack(name: string, maxSteps: number): Promise<AttackBenchResult> {
  const spec = BENCH_MODELS.find((m) => m.name === name);
  if (!spec) throw new Error(`unknown model ${name}`);
  const model = await OnnxModel.open(path.join(ROOT, spec.file));
  const { dir, x, labels, tensors } = await benchInputs(name);
  const B = labels.length;
  model.specialise(B);
  const pred = await model.predict(x, B);
  const op = model.operator({ batch: B, input: x, target: oneHot(labels, pred.logits.length / B), loss: 'cross-entropy' });
  try {
    const n = op.inputSize, m = op.parameterCount;
    const delta = new Float64Array(m);
    for (const p of op.parameters) delta.set(Float64Array.from(tensors.get(p.name)!.data as ArrayLike<number>), p.offset);
    const t0 = performance.now();
    const g0 = new Float64Array(m);
    await op.gradient(g0);
    const target = new Float64Array(m);
    for (let i = 0; i < m; i++) target[i] = g0[i] + delta[i];
    // The start: seeded U(0, 1) (both models' data live in [0, 1]), shared with PyTorch through the file.
    const start = uniform(n, 8);
    await writeFile(path.join(dir, 'attack_start.npy'), writeNpy({ dtype: 'float64', dims: [B, ...model.sampleDims], data: start }));
    // Warm-up outside the timing: the g and J u sessions are built on first use.
    op.setInput(start);
    const scratch = new Float64Array(m);
    await op.gradient(scratch);
    await op.jacobianVector(scratch, new Float64Array(n));
    const warmupMs = performance.now() - t0;
    const r = await runAttack(op, { target, objective: 'l2', optimizer: 'lbfgs', steps: maxSteps, start, box: null });
    let se = 0;
    for (let i = 0; i < n; i++) se += (r.x[i] - x[i]) ** 2;
    return {
      name, maxSteps, steps: r.steps, evaluations: r.evaluations, ms: r.ms,
      stepsPerSecond: r.steps / (r.ms / 1000), evaluationsPerSecond: r.evaluations / (r.ms / 1000),
      stopReason: r.runs[r.best].stopReason, initialLoss: r.history[0], loss: r.loss, rmse: Math.sqrt(se / n), inputSize: n, warmupMs,
    };
  } finally {
    await op.dispose();
  }
}

function uniform(n: number, seed: number): Float64Array {
  const r = new Random(seed);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = r.uniform();
  return out;
}
