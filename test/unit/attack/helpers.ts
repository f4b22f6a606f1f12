// Fixture loading for the attack tests: the operator of a fixture model, its x, g0 and the fixture's Gaussian δ
// (test/fixtures/models/<name>), and the PyTorch attack reference (test/fixtures/attack/<name>).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OnnxModel } from '../../../server/src/backends/onnx/onnxModel';
import { oneHot } from '../../../server/src/analysis/inputs';
import { readNpy } from '../../../server/src/formats/npy';
import { readSafetensors } from '../../../server/src/formats/safetensors';

export const MODELS = join(__dirname, '../../fixtures/models');
export const ATTACK = join(__dirname, '../../fixtures/attack');

export async function attackFixture(name: string) {
  const dir = join(MODELS, name);
  const ref = JSON.parse(readFileSync(join(dir, 'reference.json'), 'utf8'));
  const attackRef = JSON.parse(readFileSync(join(ATTACK, name, 'reference.json'), 'utf8'));
  const model = await OnnxModel.open(join(dir, 'model.onnx'));
  const x32 = Float32Array.from((await readNpy(join(dir, 'x.npy'))).data as Float32Array);
  const labels = Array.from((await readNpy(join(dir, 'labels.npy'))).data as BigInt64Array, Number);
  const op = model.operator({ batch: ref.batch, input: x32, target: oneHot(labels, ref.logits[0].length), loss: 'cross-entropy' });
  const g0 = new Float64Array(op.parameterCount);
  await op.gradient(g0);
  const tensors = (await readSafetensors(join(dir, 'delta.safetensors'))).tensors;
  const delta = new Float64Array(op.parameterCount);
  for (const p of op.parameters) delta.set(Float64Array.from((tensors.get(p.name) as { data: ArrayLike<number> }).data), p.offset);
  const start = Float64Array.from((await readNpy(join(ATTACK, name, 'start.npy'))).data as Float64Array);
  /** The undamped I(δ) of the fixture δ (dense pseudo-inverse in PyTorch float64). */
  const i2fVector = Float64Array.from((await readNpy(join(dir, 'i2f_undamped.npy'))).data as Float64Array);
  return { ref, attackRef, model, op, x0: Float64Array.from(x32), labels, g0, delta, start, i2fVector };
}

export function scaledTarget(g0: Float64Array, delta: Float64Array, c: number): Float64Array {
  return g0.map((v, i) => v + c * delta[i]);
}

export function errorNorm(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return Math.sqrt(s);
}

export function sq(a: Float64Array): number {
  let s = 0;
  for (const v of a) s += v * v;
  return s;
}
