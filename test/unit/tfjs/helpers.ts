// Shared by the tfjs tests: fixture loading, θ flattening and relative errors (as in backends/pytorchReference).

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OnnxModel } from '../../../server/src/backends/onnx/onnxModel';
import { readNpy } from '../../../server/src/formats/npy';
import { readSafetensors } from '../../../server/src/formats/safetensors';
import { oneHot } from '../../../server/src/analysis/inputs';
import { TfjsInversionOperator } from '../../../server/src/backends/tfjs/tfjsOperator';
import assert from 'node:assert/strict';

import { flattenTheta, relativeError } from '../../support/fixtures';

export { flattenTheta, relativeError };

export const modelsRoot = join(__dirname, '../../fixtures/models');
export const tfjsRoot = join(__dirname, '../../fixtures/tfjs');



/** Fixture folders holding a model.onnx (with or without PyTorch references). */
export function fixtureNames(): string[] {
  return existsSync(modelsRoot) ? readdirSync(modelsRoot).filter((d) => existsSync(join(modelsRoot, d, 'model.onnx'))).sort() : [];
}

export interface FixtureInputs {
  dir: string;
  ref?: { batch: number; loss: { value: number }; logits: number[][]; dTheta: number; dX: number };
  model: OnnxModel;
  batch: number;
  x: Float32Array;
  target: Float32Array;
}

/** The fixture's batch and one-hot labels; without reference.json: seeded inputs and labels 0, 1, … */
export async function fixtureInputs(name: string): Promise<FixtureInputs> {
  const dir = join(modelsRoot, name);
  const model = await OnnxModel.open(join(dir, 'model.onnx'));
  const hasRef = existsSync(join(dir, 'reference.json'));
  if (hasRef) {
    const ref = JSON.parse(readFileSync(join(dir, 'reference.json'), 'utf8'));
    const x = Float32Array.from((await readNpy(join(dir, 'x.npy'))).data as Float32Array);
    const labels = Array.from((await readNpy(join(dir, 'labels.npy'))).data as BigInt64Array, Number);
    return { dir, ref, model, batch: ref.batch, x, target: oneHot(labels, ref.logits[0].length) };
  }
  const batch = 1;
  const x = new Float32Array(model.sampleSize * batch);
  let s = 12345;
  for (let i = 0; i < x.length; i++) x[i] = ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const { logits } = await model.predict(x, batch);
  const classes = logits.length / batch;
  return { dir, model, batch, x, target: oneHot(Array.from({ length: batch }, (_, i) => i % classes), classes) };
}

export async function referenceVectors(dir: string, layout: readonly { name: string; offset: number; size: number }[], total: number) {
  const theta = async (f: string) => flattenTheta((await readSafetensors(join(dir, f))).tensors as never, layout, total);
  const xs = async (f: string) => Float64Array.from((await readNpy(join(dir, f))).data as Float64Array);
  return { g: await theta('g.safetensors'), u: await theta('u.safetensors'), JTv: await theta('JTv.safetensors'), v: await xs('v.npy'), Ju: await xs('Ju.npy'), JJTv: await xs('JJTv.npy') };
}

/** Seeded N(0, 1)-ish directions for fixtures without references. */
export function seededVector(n: number, seed: number): Float64Array {
  const out = new Float64Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    const a = s / 2 ** 31 + 1e-12;
    s = (s * 1103515245 + 12345) % 2 ** 31;
    out[i] = Math.sqrt(-2 * Math.log(a)) * Math.cos((2 * Math.PI * s) / 2 ** 31);
  }
  return out;
}

/**
 * A tfjs twin (`modelJson`) of the ONNX fixture `fixture`: the twin opened into the IR, checked to take the fixture's
 * NCHW input and θ size, and its operators on both engines beside the ONNX fixture's own (callers dispose all three).
 */
export async function twinOperators(modelJson: string, fixture: string) {
  const model = await OnnxModel.open(modelJson);
  const f = await fixtureInputs(fixture);
  assert.deepEqual(model.sampleDims, f.model.sampleDims, 'NHWC input re-laid out as NCHW');
  assert.equal(model.parameterCount, f.ref!.dTheta);
  const opts = { batch: f.batch, input: f.x, target: f.target, loss: 'cross-entropy' as const };
  const ops = {
    onnx: model.operator(opts),
    tfjs: await TfjsInversionOperator.create({ ...opts, file: model.file, trainable: model.trainable, specialise: (b) => model.specialise(b), backend: 'wasm' }),
  };
  return { model, f, ops, onnxTwin: f.model.operator(opts) };
}
