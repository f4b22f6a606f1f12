// The spectrum page's "Confirm with a real attack" section: per sample, the original x0, the I²F prediction
// x0 + I(δ) and what the real attack recovered, side by side (pictures on canvases, other inputs as heat strips on one
// colour scale), with the attack's RMSE/PSNR/SSIM, the predicted RMSE, their ratio, steps and time. A prediction whose
// solve did not converge is marked as such: its number is not a confident estimate.

import type { AttackBatchView, AttackSampleView, AttackView } from '../../../server/src/webviewProtocol';
import { db, el, num } from '../common/format';
import { drawImage, drawStrip } from '../common/images';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

const duration = (ms: number) => (ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`);

function fact(label: string, value: string, key: string, raw?: number | null): HTMLElement {
  const d = el('div', 'fact');
  const v = el('span', 'fact-value', value);
  v.dataset.fact = key;
  if (raw !== undefined && raw !== null) v.dataset.value = String(raw);
  d.append(el('span', 'fact-label', label), v);
  return d;
}

/** The section's state while a job runs: the button turns into a Cancel, a progress bar follows the stages. */
export function showAttackProgress(stage: string, fraction: number): void {
  // A run started from the code lens: the section sits below the charts, bring it into view once.
  if ($('cancel-attack').hidden) $('attack').scrollIntoView({ block: 'start' });
  $('run-attack').hidden = true;
  $('cancel-attack').hidden = false;
  const bar = $<HTMLProgressElement>('attack-progress');
  bar.hidden = false;
  bar.value = Math.max(0, Math.min(1, fraction));
  const s = $('attack-status');
  s.textContent = `Attacking… ${stage} (${Math.round(fraction * 100)}%)`;
  s.className = 'status busy';
}

export function showAttackStopped(message: string, cancelled: boolean): void {
  idle();
  const s = $('attack-status');
  s.textContent = message;
  s.className = cancelled ? 'status info' : 'status error';
}

function idle(): void {
  $('run-attack').hidden = false;
  $('cancel-attack').hidden = true;
  $<HTMLProgressElement>('attack-progress').hidden = true;
}

export function clearAttack(): void {
  idle();
  $('attack-status').textContent = '';
  $('attack-result').replaceChildren();
  $('attack-intro').hidden = false;
}

export function renderAttack(v: AttackView): void {
  idle();
  $('attack-status').textContent = '';
  $('attack-intro').hidden = true;
  $<HTMLButtonElement>('run-attack').textContent = 'Run again';
  const root = $('attack-result');
  root.replaceChildren(el('p', 'note', `${v.method}. ${v.image ? '' : `Inputs are ${v.sampleDims.length === 2 ? `${v.sampleDims[0]} × ${v.sampleDims[1]} embeddings (one row per token)` : `vectors of ${v.sampleDims.join(' × ')} values`}, drawn as heat strips on the originals' scale ${num(v.lo)} … ${num(v.hi)}.`}`));
  if (v.note) root.append(el('p', 'note', v.note));
  for (const b of v.batches) root.append(batch(v, b));
}

const pct = (x: number) => `${Math.round(100 * x)}%`;

function batch(v: AttackView, b: AttackBatchView): HTMLElement {
  const box = el('div', 'attack-batch');
  box.dataset.converged = String(b.converged);
  box.append(el('h3', undefined, `Sample${b.samples.length > 1 ? 's' : ''} ${b.samples.join(', ')} · defences: ${b.defences.join(' then ') || 'none'}`));
  const predicted = b.converged ? num(b.predictedRmse, 4) : `${num(b.predictedRmse, 4)} (not converged)`;
  const facts = el('div', 'facts');
  facts.append(
    fact('attack RMSE', num(b.rmse, 4), 'rmse', b.rmse),
    fact('attack PSNR', db(b.psnr), 'psnr', b.psnr),
    fact('attack SSIM', b.ssim === null ? 'n/a' : num(b.ssim, 3), 'ssim', b.ssim),
    fact('predicted RMSE ‖I(δ)‖/√n', predicted, 'predictedRmse', b.predictedRmse),
    fact('attack / prediction', num(b.ratio, 3), 'ratio', b.ratio),
    fact('lower bound RMSE', num(b.lowerBoundRmse, 3), 'lowerBoundRmse', b.lowerBoundRmse),
    fact('steps', String(b.steps), 'steps', b.steps),
    fact('attack time', duration(b.ms), 'ms', b.ms),
    fact('prediction time', duration(b.predictionMs), 'predictionMs', b.predictionMs),
    fact('stopped', b.stopReason, 'stopReason'),
    ...(b.tokens ? [
      fact('tokens: attack (any order)', `${pct(b.tokens.recovered)} (${pct(b.tokens.bagRecovered)})`, 'tokensRecovered', b.tokens.recovered),
      fact('tokens: prediction (any order)', `${pct(b.tokens.predictedRecovered)} (${pct(b.tokens.predictedBagRecovered)})`, 'tokensPredicted', b.tokens.predictedRecovered),
    ] : []),
  );
  box.append(facts);
  if (!b.converged) {
    box.append(el('p', 'callout warning unconverged',
      `⚠ The prediction's solve did not converge (relative residual ${num(b.relativeResidual, 2)}): x0 + I(δ) and its RMSE are not a confident estimate, and the ratio compares against an unfinished number.`));
  }
  for (const s of b.perSample) box.append(sampleRow(v, b, s));
  if (b.perSample.length < b.samples.length) {
    box.append(el('p', 'note', `Showing the first ${b.perSample.length} of the batch's ${b.samples.length} samples; the numbers above are the whole batch's.`));
  }
  return box;
}

function sampleRow(v: AttackView, b: AttackBatchView, s: AttackSampleView): HTMLElement {
  const row = el('div', 'pair attack-row');
  row.dataset.sample = String(s.sample);
  const figure = (kind: string, values: number[], caption: string) => {
    const f = el('figure');
    f.dataset.kind = kind;
    const c = el('canvas', `attack-${kind}`);
    if (v.image) {
      const scale = Math.max(2, Math.round(112 / Math.max(v.image.height, v.image.width)));
      drawImage(c, values, v.image, { kind: 'data', lo: v.image.lo, hi: v.image.hi }, scale);
    } else drawStrip(c, values, v.rows, v.lo, v.hi);
    f.append(c, el('figcaption', undefined, caption));
    return f;
  };
  const mark = b.converged ? '' : ' ⚠ not converged';
  row.append(
    figure('original', s.original, `original x0 · sample ${s.sample} (label ${s.label})`),
    figure('predicted', s.predicted, `predicted x0 + I(δ) · RMSE ${num(s.predictedRmse, 3)}${mark}`),
    figure('recovered', s.recovered, `recovered by the attack · RMSE ${num(s.rmse, 3)}, ${db(s.psnr)}${s.ssim === null ? '' : `, SSIM ${num(s.ssim, 3)}`}`),
  );
  const t = s.tokens;
  if (!t) return row;
  // Token models: the decoded words under each strip (nearest embedding row), when the model has a vocabulary.
  const words = [t.text, t.predictedText, t.recoveredText];
  const shares = [1, t.predicted, t.recovered];
  Array.from(row.children).forEach((f, i) => {
    const p = el('p', 'tokens', words[i] !== undefined ? `“${words[i]}”` : '');
    p.append(el('span', 'subtle', `${words[i] !== undefined ? ' · ' : ''}${i === 0 ? 'the sample' : `${pct(shares[i])} of its tokens`}`));
    f.append(p);
  });
  return row;
}
