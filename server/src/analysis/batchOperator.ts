// Which engine runs a batch's products (i2f.backend / --backend): the ONNX derivative graphs, or nested autodiff in
// TensorFlow.js on the same specialised graph. One choice for the analysis, the spectrum page and the attack, so a
// setting means the same engine everywhere (the engines' products agree to ≤1e-5, tfjs/crossCheck.ts).

import type { OnnxModel } from '../backends/onnx/onnxModel';
import type { LossKind } from '../backends/onnx/derivatives/productGraphs';
import type { SessionSettings } from '../backends/onnx/onnxOperator';
import { TfjsInversionOperator } from '../backends/tfjs/tfjsOperator';
import type { InversionOperator } from '../engine/operator';

export type Backend = 'onnx' | 'tfjs';

/** One batch's problem: the samples, the loss's targets and the ONNX session settings. */
export interface BatchProblem {
  batch: number;
  input: Float32Array;
  target: Float32Array;
  loss: LossKind;
  session?: SessionSettings;
}

/** The operator of `model` (the file at `file`, or its per-batch split for token models) on `backend`. */
export async function batchOperator(backend: Backend, file: string, model: OnnxModel, p: BatchProblem): Promise<InversionOperator> {
  model.requireParameters();
  if (backend === 'onnx') return model.operator({ batch: p.batch, input: p.input, target: p.target, loss: p.loss, session: p.session });
  return TfjsInversionOperator.create({
    file, trainable: model.trainable, loss: p.loss, specialise: (b) => model.specialise(b), batch: p.batch, input: p.input, target: p.target,
  });
}

/** The engine a request names (absent: the ONNX engine, the default). */
export function backendOf(req: { backend?: Backend }): Backend {
  return req.backend ?? 'onnx';
}
