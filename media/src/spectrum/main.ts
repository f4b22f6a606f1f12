// The eigen-spectrum page: draws what the extension sends (SpectrumView, NoiseView) and turns the controls into
// messages. It never computes I²F: a new sample, k, damping or noise std is a request, the numbers come back.

import type {
  AttackView, CheckpointHistoryView, NoiseView, SpectrumHostMessage, SpectrumPageMessage, SpectrumPageState, SpectrumView,
} from '../../../server/src/webviewProtocol';
import { clearAttack, renderAttack, showAttackProgress, showAttackStopped } from './attack';
import { barChart, chartPng, eigenvaluePlot, frontierPlot, linePlot, standaloneSvg } from '../common/charts';
import { csv, db, el, num } from '../common/format';
import { connectHost } from '../common/host';
import { checkSpectrumHostMessage } from '../common/hostMessages';
import { drawImage } from '../common/images';

const host = connectHost<SpectrumPageMessage, SpectrumHostMessage, SpectrumPageState>(checkSpectrumHostMessage);
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

let view: SpectrumView | undefined;
/** The last attack result shown (it survives reloads through the page state). */
let attack: AttackView | undefined;
/** The checkpoint history shown (redrawn on resize). */
let history: CheckpointHistoryView | undefined;

function saveState(std?: number): void {
  host.setState({ config: view?.config, data: view, std: std ?? view?.noise.std, ...(attack ? { attack } : {}) });
}
/** The slider works on a log scale over 4 decades below stdMax; position 0 is "no noise". */
const SLIDER_STEPS = 1000;
const DECADES = 4;

function stdFromSlider(t: number, max: number): number {
  return t <= 0 ? 0 : max * 10 ** (-DECADES * (1 - t / SLIDER_STEPS));
}
function sliderFromStd(std: number, max: number): number {
  if (!(std > 0) || !(max > 0)) return 0;
  return Math.max(1, Math.min(SLIDER_STEPS, Math.round(SLIDER_STEPS * (1 + Math.log10(std / max) / DECADES))));
}

function status(text: string, kind: 'busy' | 'error' | 'info' | '' = 'info'): void {
  const s = $('status');
  s.textContent = text;
  s.className = `status ${kind}`;
}

// ── Rendering ───────────────────────────────────────────────────────────────────────────────────────────────────

function render(v: SpectrumView): void {
  if (view && view.config !== v.config && attack) {
    // Another config: the attack shown was on a different model or defence.
    attack = undefined;
    clearAttack();
  }
  view = v;
  document.body.classList.remove('empty');
  $('title').textContent = `Eigen-spectrum of J Jᵀ — ${basename(v.model)}`;
  $('subtitle').textContent = `${v.config} · sample ${v.settings.sample} of ${v.settings.samples} (label ${v.labels[v.settings.sample]}) · defences: ${v.defences.join(' then ') || 'none'}`;
  renderControls(v);
  renderSpectrum(v);
  renderNoise(v.noise);
  saveState();
}

function renderControls(v: SpectrumView): void {
  const sample = $<HTMLSelectElement>('sample');
  sample.replaceChildren(...v.labels.map((label, i) => {
    const o = el('option', undefined, `${i} (label ${label})`);
    o.value = String(i);
    return o;
  }));
  sample.value = String(v.settings.sample);
  $<HTMLInputElement>('k').value = String(v.settings.k);
  $<HTMLInputElement>('damping').value = String(v.settings.damping);
  $<HTMLInputElement>('std-slider').value = String(sliderFromStd(v.noise.std, v.settings.stdMax));
  $<HTMLInputElement>('std').value = String(v.noise.std);
}

function renderSpectrum(v: SpectrumView): void {
  const s = v.spectrum;
  const ms = [
    { value: s.lambdaMax, label: `λmax ${num(s.lambdaMax)}`, cls: 'm-max' },
    { value: s.lambdaMin, label: `λmin ${num(s.lambdaMin)}`, cls: 'm-min' },
  ];
  if (s.damping > 0) ms.push({ value: s.damping, label: `ε ${num(s.damping)}`, cls: 'm-eps' });
  eigenvaluePlot($('eigen-chart'), {
    id: 'eigenvalues', title: `Eigenvalues of J Jᵀ (log scale) · κ = ${num(s.condition)}`, yLabel: 'λ', xLabel: 'eigenvalue index',
    top: s.top, bottom: s.bottom, inputSize: s.inputSize, markers: ms,
    bottomUnconverged: s.bottom.map((b, i) => !(s.bottomResiduals[i] <= 1e-3 * Math.max(b, 1e-300))),
  });
  const facts = $('eigen-facts');
  facts.replaceChildren(
    fact('λmax', num(s.lambdaMax, 4)), fact('λmin', num(s.lambdaMin, 4)), fact('κ = λmax/λmin', num(s.condition, 3)),
    fact('damping ε', s.damping > 0 ? num(s.damping) : '0 (undamped)'),
    fact('Lanczos', `${s.steps} of ${s.inputSize} steps${s.complete ? ' (whole spectrum)' : ''}`),
    fact('cost along v₁ (1/σ₁)', num(v.directions[0]?.costPerUnitNoise)),
    fact('cost along the bottom (1/√λmin)', num(s.lambdaMin > 0 ? Math.sqrt(s.lambdaMin) / (s.lambdaMin + s.damping) : Infinity)),
  );
  const unconverged = s.bottom.filter((b, i) => !(s.bottomResiduals[i] <= 1e-3 * b)).length;
  $('eigen-note').textContent = unconverged
    ? `${unconverged} of the ${s.bottom.length} smallest Ritz values have not converged (hollow): λmin may be smaller than shown, κ larger.`
    : '';
  const dirs = v.directions.map((d) => `u${d.index + 1}`);
  barChart($('cost-chart'), {
    id: 'cost', title: 'Error per unit of noise along each direction (1/σᵢ)', yLabel: 'error / noise', xLabel: 'eigen-direction (largest λ first)',
    categories: dirs, series: [{ name: '', cls: 's-purple', values: v.directions.map((d) => d.costPerUnitNoise) }],
  });
  renderImages(v);
}

function fact(label: string, value: string): HTMLElement {
  const d = el('div', 'fact');
  d.append(el('span', 'fact-label', label), el('span', 'fact-value', value));
  return d;
}

function renderNoise(n: NoiseView): void {
  if (!view) return;
  view = { ...view, noise: n };
  const v = view;
  const badge = $('risk');
  badge.textContent = `risk: ${n.risk}`;
  badge.className = `badge risk-${n.risk}`;
  const t = n.tokens;
  const pct = (x: number) => `${Math.round(x * 100)}%`;
  // Token-id models: graded on tokens; PSNR and RMSE are of embedding vectors (labelled so).
  const emb = v.input.embedding ? ' (embedding)' : '';
  $('headline').replaceChildren(
    fact('noise std', num(n.std)),
    ...(t ? [fact(`tokens recovered, sample ${t.shown.sample}`, `${pct(t.shown.recovered)} (per position ${t.shown.perPosition.map(pct).join(' ')})`), fact('tokens recovered, all samples', pct(t.recovered))] : []),
    fact(`expected PSNR${emb}`, db(n.expectedPsnr)), fact(`expected RMSE${emb}`, num(n.expectedRmse)),
    fact('I²F (this draw)', num(n.i2f)), fact('I²F (RMS over draws)', num(n.i2fExpected)), fact('lower bound ‖Jδ‖/λmax', num(n.lowerBound)),
    ...(n.converged ? [] : [fact('solver', 'not converged')]),
  );
  $<HTMLInputElement>('std').value = String(Number(n.std.toPrecision(4)));
  $('std-value').textContent = num(n.std);

  const dirs = v.directions.map((d) => `u${d.index + 1}`);
  barChart($('energy-chart'), {
    id: 'energy', title: 'Where the defence puts its energy (top eigen-directions)', yLabel: '|component|', xLabel: 'eigen-direction (largest λ first)',
    categories: dirs,
    series: [
      { name: '|δ·vᵢ| defence', cls: 's-blue', values: n.deltaAlong.map(Math.abs) },
      { name: '|uᵢ·I(δ)| attacker error', cls: 's-orange', values: n.errorAlong.map(Math.abs) },
      { name: 'RMS over draws', cls: 's-green', values: n.expectedErrorAlong },
    ],
  });
  const share = v.spectrum.jDeltaShareTopK;
  $('energy-note').textContent = v.spectrum.jDeltaNorm > 0
    ? `The top ${v.directions.length} directions hold ${(share * 100).toFixed(1)}% of ‖J δ_det‖² (‖J δ_det‖ = ${num(v.spectrum.jDeltaNorm)}); energy there buys the least error: each unit costs the attacker only 1/σᵢ.`
    : 'The defence has no deterministic part: Gaussian noise puts the same energy on every direction, and the error it buys is s/σᵢ per direction.';

  const exposed = n.mostExposed;
  barChart($('sample-chart'), {
    id: 'samples', title: `Predicted attacker PSNR${emb} per sample (higher = more exposed)`, yLabel: 'PSNR (dB)', xLabel: 'sample',
    categories: n.perSample.map((s) => `${s.sample}`),
    series: [{ name: '', cls: 's-blue', values: n.perSample.map((s) => (Number.isFinite(s.psnr) ? s.psnr : null)) }],
    highlight: exposed ? n.perSample.findIndex((s) => s.sample === exposed.sample) : undefined,
    titles: n.perSample.map((s) => `sample ${s.sample} (label ${s.label}): ${db(s.psnr)}, RMSE ${num(s.rmse)}`),
  });
  barChart($('class-chart'), {
    id: 'classes', title: 'Per class: mean PSNR, whiskers min–max', yLabel: 'PSNR (dB)', xLabel: 'class label',
    categories: n.perClass.map((c) => `${c.label}`),
    series: [{ name: '', cls: 's-purple', values: n.perClass.map((c) => (Number.isFinite(c.meanPsnr) ? c.meanPsnr : null)) }],
    whiskers: { lo: n.perClass.map((c) => c.minPsnr), hi: n.perClass.map((c) => c.maxPsnr) },
    titles: n.perClass.map((c) => `class ${c.label}: ${c.count} sample(s), mean ${db(c.meanPsnr)}, ${db(c.minPsnr)}–${db(c.maxPsnr)}`),
  });
  $('exposed').textContent = exposed
    ? `Most exposed: sample ${exposed.sample} (label ${exposed.label}) at ${db(exposed.psnr)}, RMSE ${num(exposed.rmse)}. ` +
      `Spread over ${n.perSample.length} samples: ${db(Math.min(...n.perSample.map((s) => s.psnr)))} – ${db(exposed.psnr)}.`
    : 'No per-sample results.';
  if (v.input.embedding) {
    $('exposed').textContent = `Embedding space: ${v.input.embedding.note}. ` +
      (t ? `At std ${num(n.std)} the predicted reconstruction recovers ${pct(t.shown.recovered)} of sample ${t.shown.sample}'s tokens (${t.metric} nearest embedding row)` +
        `${t.shown.text && t.shown.recoveredText ? `: “${t.shown.text}” → “${t.shown.recoveredText}”` : ''}. ` : '') + $('exposed').textContent;
  }
  if (v.input.image && n.reconstruction) {
    drawImage($<HTMLCanvasElement>('img-reconstruction'), n.reconstruction, v.input.image, { kind: 'data', lo: v.input.image.lo, hi: v.input.image.hi });
    $('cap-reconstruction').textContent = `x0 + I(δ) at std ${num(n.std)}: ${db(n.perSample.find((s) => s.sample === v.settings.sample)?.psnr)}`;
  }
  renderFrontier(v, n);
  saveState(n.std);
}

/**
 * Predicted PSNR and DP ε against the noise multiplier (the server's frontier points), with the slider's σ marked
 * on both curves: the user reads which noise meets the PSNR target and the ε budget together.
 */
function renderFrontier(v: SpectrumView, n: NoiseView): void {
  const section = $('frontier');
  const f = v.privacy;
  if (!f || !n.privacy) {
    section.hidden = true;
    return;
  }
  section.hidden = false;
  const psnr = n.privacy.psnr;
  const current = { x: n.privacy.noiseMultiplier, psnr, epsilon: n.privacy.epsilon };
  const who = f.unit === 'user' ? 'user-level' : 'example-level';
  frontierPlot($('frontier-chart'), {
    id: 'frontier', title: `Predicted PSNR and ε (δ = ${f.delta <= 1e-3 ? f.delta.toExponential() : f.delta}, ${who}, ${f.steps} ${f.unit === 'user' ? 'rounds' : 'steps'}, q = ${num(f.sampleRate)}) against the noise multiplier`,
    yLabel: 'PSNR (dB)', xLabel: 'noise multiplier σ (log scale)',
    points: f.points.map((p) => ({ x: p.noiseMultiplier, psnr: p.psnr, epsilon: p.epsilon })),
    current, psnrTarget: f.targetPsnr, epsilonThreshold: f.targetEpsilon ?? f.epsilonThreshold,
  });
  const eps = n.privacy.epsilon;
  $('frontier-facts').replaceChildren(
    fact('noise multiplier σ', num(n.privacy.noiseMultiplier)),
    fact('ε (RDP accountant)', eps === null ? '∞ (no noise)' : `${num(eps)} at order ${n.privacy.order}`),
    fact('predicted PSNR (most exposed)', db(psnr ?? NaN)),
    fact('configured σ', num(f.configuredNoiseMultiplier)),
  );
  const meetsPsnr = psnr !== null && psnr <= f.targetPsnr;
  const budget = f.targetEpsilon ?? f.epsilonThreshold;
  const meetsEps = eps !== null && eps <= budget;
  $('frontier-note').textContent = `At σ ${num(n.privacy.noiseMultiplier)} the attacker's predicted PSNR is ${meetsPsnr ? 'at or below' : 'above'} the ${f.targetPsnr} dB target and ε is ${meetsEps ? 'within' : 'above'} ${f.targetEpsilon !== undefined ? 'target_epsilon' : 'the threshold'} ${budget}. ` +
    `The slider's std is σ × ${num(f.stdPerNoiseMultiplier)} (the config's std per unit of noise multiplier).`;
}

function renderImages(v: SpectrumView): void {
  const section = $('images');
  if (!v.input.image || !v.images) {
    section.hidden = true;
    return;
  }
  section.hidden = false;
  const layout = v.input.image;
  const scale = Math.max(2, Math.round(112 / Math.max(layout.height, layout.width)));
  drawImage($<HTMLCanvasElement>('img-original'), v.images.original, layout, { kind: 'data', lo: layout.lo, hi: layout.hi }, scale);
  $<HTMLCanvasElement>('img-reconstruction').dataset.scale = String(scale);
  $('directions-caption').textContent = layout.channels === 3
    ? 'Leading eigen-directions uᵢ (each channel: grey = 0, brighter +, darker −)'
    : 'Leading eigen-directions uᵢ (red +, blue −, white 0)';
  const grid = $('direction-images');
  grid.replaceChildren(...v.images.directions.map((u, i) => {
    const fig = el('figure', 'thumb');
    const c = el('canvas', 'direction');
    drawImage(c, u, layout, { kind: 'diverging' }, Math.max(2, Math.round(scale / 2)));
    fig.append(c, el('figcaption', undefined, `u${i + 1} · λ ${num(v.directions[i]?.lambda)}`));
    return fig;
  }));
}

/** Predicted PSNR per checkpoint the config's training wrote, with the ceiling its lower bound sets. */
function renderHistory(h: CheckpointHistoryView): void {
  history = h;
  const section = $('history');
  section.hidden = h.entries.length === 0;
  if (!h.entries.length) return;
  const cats = h.entries.map((e) => (e.step !== undefined ? String(e.step) : basename(e.checkpoint)));
  linePlot($('history-chart'), {
    id: 'history', title: 'Predicted attacker PSNR per checkpoint (higher = more exposed)', yLabel: 'PSNR (dB)',
    xLabel: h.entries.some((e) => e.step !== undefined) ? 'round / step' : 'checkpoint',
    categories: cats,
    series: [
      { name: 'predicted PSNR', cls: 's-blue', values: h.entries.map((e) => e.psnr) },
      { name: 'ceiling from the lower bound', cls: 's-orange', dashed: true, values: h.entries.map((e) => e.lowerBoundPsnr) },
    ],
    titles: h.entries.map((e) => `${e.checkpoint} (${e.risk}, ${e.analysedAt.slice(0, 19).replace('T', ' ')})`),
  });
  const last = h.entries[h.entries.length - 1];
  const first = h.entries[0];
  const trend = h.entries.length > 1 && first.psnr !== null && last.psnr !== null
    ? ` From ${first.checkpoint} to ${last.checkpoint} the predicted PSNR went ${last.psnr > first.psnr ? 'up' : 'down'} by ${db(Math.abs(last.psnr - first.psnr))}: leakage ${last.psnr > first.psnr ? 'grows' : 'shrinks'} as training goes on.`
    : '';
  $('history-note').textContent = `${h.entries.length} checkpoint(s) analysed; latest ${last.checkpoint}: ${db(last.psnr ?? NaN)}, risk ${last.risk}.${trend}`;
}

function basename(p: string): string {
  return p.split(/[\\/]/).pop() ?? p;
}

// ── Export ──────────────────────────────────────────────────────────────────────────────────────────────────────

function spectrumCsv(v: SpectrumView): string {
  const n = v.noise;
  const rows: unknown[][] = [['section', 'index', 'label', 'value', 'value2', 'value3', 'value4']];
  v.spectrum.top.forEach((l, i) => rows.push(['eigenvalue-top', i + 1, '', l, v.spectrum.topResiduals[i]]));
  v.spectrum.bottom.forEach((l, i) => rows.push(['eigenvalue-bottom', v.spectrum.inputSize - i, '', l, v.spectrum.bottomResiduals[i]]));
  rows.push(['direction', 'index', 'lambda', 'cost_per_unit_noise', 'delta_along_v', 'error_along_u', 'expected_error_along_u']);
  v.directions.forEach((d, i) => rows.push(['direction', i + 1, d.lambda, d.costPerUnitNoise, n.deltaAlong[i], n.errorAlong[i], n.expectedErrorAlong[i]]));
  rows.push(['sample', 'index', 'label', 'psnr_db', 'rmse']);
  n.perSample.forEach((s) => rows.push(['sample', s.sample, s.label, s.psnr, s.rmse]));
  rows.push(['class', 'label', 'count', 'mean_psnr_db', 'min_psnr_db', 'max_psnr_db']);
  n.perClass.forEach((c) => rows.push(['class', c.label, c.count, c.meanPsnr, c.minPsnr, c.maxPsnr]));
  rows.push(['summary', 'std', n.std, 'expected_psnr_db', n.expectedPsnr, 'risk', n.risk]);
  return csv(rows);
}

async function save(chartId: string, format: 'svg' | 'png'): Promise<void> {
  const svg = document.querySelector<SVGSVGElement>(`svg[data-chart="${chartId}"]`);
  if (!svg) return;
  const name = `i2f-${chartId}.${format}`;
  try {
    const data = format === 'svg' ? standaloneSvg(svg) : await chartPng(svg);
    host.post({ type: 'save', format, name, data });
  } catch (e) {
    status(`Could not export the chart: ${(e as Error).message}`, 'error');
  }
}

// ── Controls ────────────────────────────────────────────────────────────────────────────────────────────────────

function wire(): void {
  $<HTMLSelectElement>('sample').addEventListener('change', (e) => {
    host.post({ type: 'setSample', sample: Number((e.target as HTMLSelectElement).value) });
    status('Analysing the sample…', 'busy');
  });
  const slider = $<HTMLInputElement>('std-slider');
  slider.addEventListener('input', () => {
    if (!view) return;
    const std = Number(stdFromSlider(Number(slider.value), view.settings.stdMax).toPrecision(4));
    $('std-value').textContent = num(std);
    host.post({ type: 'setNoise', std });
  });
  $<HTMLInputElement>('std').addEventListener('change', (e) => {
    const std = Number((e.target as HTMLInputElement).value);
    if (std >= 0 && Number.isFinite(std)) host.post({ type: 'setNoise', std });
    else status('The noise std must be a number ≥ 0.', 'error');
  });
  $('std-reset').addEventListener('click', () => view && host.post({ type: 'setNoise', std: view.settings.configuredStd }));
  $<HTMLInputElement>('k').addEventListener('change', (e) => {
    const k = Number((e.target as HTMLInputElement).value);
    if (Number.isInteger(k) && k >= 1 && k <= 64) {
      host.post({ type: 'setK', k });
      status('Recomputing the spectrum…', 'busy');
    } else status('k must be a whole number from 1 to 64.', 'error');
  });
  $<HTMLInputElement>('damping').addEventListener('change', (e) => {
    const damping = Number((e.target as HTMLInputElement).value);
    if (damping >= 0 && Number.isFinite(damping)) {
      host.post({ type: 'setDamping', damping });
      status('Recomputing with the new damping…', 'busy');
    } else status('The damping ε must be a number ≥ 0.', 'error');
  });
  $('refresh').addEventListener('click', () => host.post({ type: 'refresh' }));
  $('run-attack').addEventListener('click', () => {
    host.post({ type: 'runAttack' });
    showAttackProgress('asking the extension', 0);
  });
  $('cancel-attack').addEventListener('click', () => host.post({ type: 'cancelAttack' }));
  $('copy-csv').addEventListener('click', () => view && host.post({ type: 'copy', what: 'spectrum CSV', text: spectrumCsv(view) }));
  for (const b of Array.from(document.querySelectorAll<HTMLButtonElement>('button[data-export]'))) {
    b.addEventListener('click', () => void save(b.dataset.chart!, b.dataset.export as 'svg' | 'png'));
  }
}

host.onMessage((m) => {
  switch (m.type) {
    case 'spectrum':
      render(m.data);
      status('');
      break;
    case 'noise':
      if (view && m.key === view.key) renderNoise(m.noise);
      break;
    case 'busy':
      status(m.text, 'busy');
      break;
    case 'error':
      status(m.message, 'error');
      break;
    case 'done':
      status(m.text, 'info');
      break;
    case 'attackProgress':
      showAttackProgress(m.stage, m.fraction);
      break;
    case 'attack':
      attack = m.data;
      renderAttack(m.data);
      saveState();
      break;
    case 'attackStopped':
      showAttackStopped(m.message, m.cancelled);
      break;
    case 'history':
      renderHistory(m.data);
      break;
  }
});

wire();
// Charts are drawn at their container's width: redraw after the panel is resized.
let resizeTimer: number | undefined;
window.addEventListener('resize', () => {
  window.clearTimeout(resizeTimer);
  resizeTimer = window.setTimeout(() => {
    if (view) render(view);
    if (history) renderHistory(history);
  }, 150);
});
const saved = host.getState();
if (saved?.data) render(saved.data);
if (saved?.attack) {
  attack = saved.attack;
  renderAttack(saved.attack);
}
host.post({ type: 'ready' });
