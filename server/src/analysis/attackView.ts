// What the spectrum page shows of a real attack (issue 8): an attack report whose batches kept their inputs
// (AttackRequest.keepInputs), cut into per-sample original / predicted (x0 + I(δ)) / recovered arrays with the
// numbers beside them. Pure data shaping: the numbers are the report's, nothing is recomputed here.

import type { AttackBatchView, AttackView } from '../webviewProtocol';
import { isImageShape, type AttackReport } from './attack';

/** JSON has no Infinity (a perfect recovery's PSNR): null, which the page prints as "∞". */
const finite = (v: number | null): number | null => (v !== null && Number.isFinite(v) ? v : null);

/** Samples drawn per batch: a batch of large pictures would make a message (and page state) of many megabytes. */
export const MAX_SHOWN_SAMPLES = 8;

export function attackView(report: AttackReport, config: string, maxShown = MAX_SHOWN_SAMPLES): AttackView {
  const dims = report.model.inputShape.slice(1);
  const per = dims.reduce((a, d) => a * d, 1);
  // The data's range exactly as attackModel takes it: pictures in [0, 1] keep it, other data spans from its minimum.
  let min = Infinity, max = -Infinity;
  for (const b of report.results) {
    if (!b.inputs) throw new Error('attackView needs an attack run with keepInputs');
    for (const v of b.inputs.original) {
      if (v < min) min = v;
      if (v > max) max = v;
    }
  }
  const range = report.settings.dataRange;
  const lo = range === 1 && min >= 0 ? 0 : min;
  const hi = range === 1 && min >= 0 ? 1 : Math.max(max, min + (range > 0 ? range : 1));
  const image = isImageShape(dims) ? { channels: dims[0], height: dims[1], width: dims[2], lo, hi } : null;
  const a = report.settings.attack;
  const optimizer = a.optimizer === 'lbfgs' ? 'L-BFGS' : a.signed === false ? 'Adam' : 'signed Adam';
  const objective = a.objective === 'l2' ? 'L2 (DLG)' : 'cosine (Inverting Gradients)';
  const method = `${optimizer} on the ${objective} objective, up to ${a.steps} steps${a.restarts > 1 ? ` × ${a.restarts} restarts` : ''}${a.tv > 0 ? `, TV ${a.tv}` : ''}`;

  const batches: AttackBatchView[] = report.results.map((b) => {
    const inputs = b.inputs!;
    const cut = (xs: number[], i: number) => xs.slice(i * per, (i + 1) * per);
    const t = b.tokens;
    return {
      samples: b.samples, labels: b.labels, defences: b.defense,
      ...(t ? { tokens: { recovered: t.recovered, bagRecovered: t.bagRecovered, predictedRecovered: t.predicted.recovered, predictedBagRecovered: t.predicted.bagRecovered } } : {}),
      rmse: b.rmse, psnr: finite(b.psnr), ssim: b.ssim, predictedRmse: b.predictedRmse, predictedPsnr: finite(b.predictedPsnr),
      lowerBoundRmse: b.lowerBoundRmse, ratio: b.ratio, steps: b.steps, ms: b.ms, stopReason: b.stopReason,
      converged: b.prediction.converged, relativeResidual: b.prediction.relativeResidual, predictionMs: b.prediction.ms,
      perSample: b.perSample.slice(0, maxShown).map((p, i) => ({
        sample: p.sample, label: b.labels[i], rmse: p.rmse, psnr: finite(p.psnr), ssim: p.ssim, predictedRmse: p.predictedRmse,
        original: cut(inputs.original, i), predicted: cut(inputs.predicted, i), recovered: cut(inputs.recovered, i),
        ...(t ? { tokens: {
          recovered: t.perSample[i].recovered, predicted: t.perSample[i].predicted,
          ...(t.text ? { text: t.text[i], recoveredText: t.recoveredText?.[i], predictedText: t.predictedText?.[i] } : {}),
        } } : {}),
      })),
    };
  });
  return {
    config, model: report.model.path, method, sampleDims: dims, image, lo, hi, rows: dims.length === 2 ? dims[0] : 1,
    ...(report.model.input ? { note: `Embedding space: ${report.model.input.note}; RMSE and PSNR are of embedding vectors.` } : {}), batches,
  };
}
