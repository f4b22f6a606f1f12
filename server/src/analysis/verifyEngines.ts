// "I²F: Verify engines": both engines (the ONNX derivative graphs and nested autodiff in TensorFlow.js) compute
// g, J u and Jᵀ v on each batch a config analyses, and the largest relative disagreement is reported per batch
// (issue 6). Two independent engines agreeing is the check that holds on the user's own model, not only on fixtures.

import { modelFileFormat } from '../backends/modelFile';
import { crossCheck, type CrossCheckResult } from '../backends/tfjs/crossCheck';
import { TfjsInversionOperator } from '../backends/tfjs/tfjsOperator';
import { openRun, type AnalyzeRequest } from './analyzeModel';
import { batchTargets } from './lossChoice';
import { openTokenSession } from './tokens';

/**
 * Disagreement above which the engines are said to differ: both work in float32 with float64 accumulation, and every
 * fixture agrees to ≤ 1.6e-6 (MEASURED.md); 1e-4 leaves room for deep models' roundoff while any wrong derivative
 * rule (the tfjs traps were off by O(1)) is far above it.
 */
export const ENGINE_AGREEMENT = 1e-4;

export type VerifyRequest = Pick<AnalyzeRequest, 'model' | 'weights' | 'maxModelBytes' | 'data' | 'labels' | 'batch' | 'seed' | 'loss' | 'maxSamples' | 'syntheticSamples'>;

export interface VerifyBatch extends CrossCheckResult {
  samples: number[];
  labels: number[];
  /** The tfjs backend that ran (wasm, cpu, or tensorflow when tfjs-node is installed). */
  tfjsBackend: string;
}

export interface VerifyReport {
  model: { path: string; format: 'onnx' | 'tfjs'; parameters: number; inputShape: number[] };
  batches: VerifyBatch[];
  /** The largest of every batch's g, J u, Jᵀ v disagreement. */
  max: number;
  tolerance: number;
  agree: boolean;
}

export async function verifyEngines(req: VerifyRequest, hooks: { signal?: AbortSignal; onProgress?: (stage: string, fraction: number) => void } = {}): Promise<VerifyReport> {
  // Token-id models: both engines run on the embedding-space split (as the analysis does: tokens.ts).
  let text: Awaited<ReturnType<typeof openTokenSession>>;
  const { model, batch, samples, per, labelsGiven } = await openRun({ ...req, defences: [] }, async (m, b) => {
    text = await openTokenSession(m, req.data, req.syntheticSamples ?? b, req.seed);
    return text ? { samples: text.samples, per: text.samples.data.length / text.samples.count } : undefined;
  });
  const batches = Math.ceil(samples.count / batch);
  const out: VerifyBatch[] = [];
  for (let k = 0; k < batches; k++) {
    hooks.signal?.throwIfAborted();
    hooks.onProgress?.(batches > 1 ? `batch ${k + 1}/${batches}: both engines` : 'both engines', k / batches);
    const first = k * batch;
    const size = Math.min(batch, samples.count - first);
    const x = samples.data.subarray(first * per, (first + size) * per);
    const bm = text ? text.modelFor(first, size) : model;
    const predicted = await bm.predict(x, size);
    const { labels, target, loss } = batchTargets(req.loss, bm, predicted.logits, size, labelsGiven?.slice(first, first + size));
    const onnx = bm.operator({ batch: size, input: x, target, loss });
    try {
      const tfjs = await TfjsInversionOperator.create({ file: req.model, trainable: bm.trainable, loss, specialise: (b) => bm.specialise(b), batch: size, input: x, target });
      try {
        // The ONNX engine is the reference: the tfjs engine's products are measured against it.
        const r = await crossCheck(tfjs, onnx, req.seed, hooks.signal);
        out.push({ ...r, samples: labels.map((_, i) => first + i), labels, tfjsBackend: tfjs.backend });
      } finally {
        await tfjs.dispose();
      }
    } finally {
      await onnx.dispose();
    }
  }
  hooks.onProgress?.('done', 1);
  const max = Math.max(0, ...out.map((b) => b.max));
  return {
    model: { path: req.model, format: modelFileFormat(req.model), parameters: model.parameterCount, inputShape: text ? [batch, ...text.info.tokenDims, text.info.dim] : [batch, ...model.sampleDims] },
    batches: out,
    max,
    tolerance: ENGINE_AGREEMENT,
    agree: out.every((b) => b.max <= ENGINE_AGREEMENT),
  };
}

/** One line per batch, for the editor's message and log. */
export function describeVerification(r: VerifyReport): string[] {
  const e = (v: number) => v.toExponential(1);
  return r.batches.map((b) => `samples ${b.samples.join(', ')}: g ${e(b.g)}, J u ${e(b.Ju)}, Jᵀ v ${e(b.JTv)} (tfjs ${b.tfjsBackend}: ${b.timing.engine.Ju} ms per J u vs ONNX ${b.timing.reference.Ju} ms)`);
}
