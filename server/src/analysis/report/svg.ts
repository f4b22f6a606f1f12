// Inline SVG plots for the HTML audit report, drawn here (no plotting library): the eigen-spectrum of J Jᵀ on a
// log scale, and the per-sample spread of the predicted attacker PSNR against the risk thresholds. Colours come
// from CSS classes (the page's light/dark palettes), so the SVG itself carries no colour.

import { fmt } from '../formatText';

export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

const r1 = (x: number) => Math.round(x * 10) / 10;

export interface SpectrumInput {
  /** Largest eigenvalues, descending. */
  top: number[];
  /** Smallest eigenvalues, ascending. */
  bottom: number[];
  /** top and bottom together are the whole spectrum. */
  complete: boolean;
  /** Order of J Jᵀ (batch × input size), when known. */
  dimension?: number;
  damping?: number;
  title: string;
}

/** Eigenvalues λ_k against k, log10 y axis; the top and bottom ends of a partial spectrum with a break between. */
export function spectrumSvg(s: SpectrumInput): string {
  const W = 470, H = 260, L = 64, R = 16, T = 34, B = 44;
  const pw = W - L - R, ph = H - T - B;
  const bottomDesc = [...s.bottom].reverse();
  // Points: {k (1-based index in descending order), value}.
  const n = s.dimension ?? s.top.length + s.bottom.length;
  const pts: { k: number; v: number; end: 'top' | 'bottom' }[] = [
    ...s.top.map((v, i) => ({ k: i + 1, v, end: 'top' as const })),
    ...bottomDesc.map((v, i) => ({ k: n - bottomDesc.length + i + 1, v, end: 'bottom' as const })),
  ];
  const seen = new Set<number>();
  const unique = pts.filter((p) => (seen.has(p.k) ? false : (seen.add(p.k), true)));
  const positive = unique.map((p) => p.v).filter((v) => v > 0 && Number.isFinite(v));
  const hi = positive.length ? Math.max(...positive) : 1;
  const floorV = positive.length ? Math.min(...positive) : hi / 10;
  let yMax = Math.ceil(Math.log10(hi));
  let yMin = Math.floor(Math.log10(floorV));
  if (yMax - yMin < 1) yMin = yMax - 1;
  const gap = !s.complete && s.top.length && s.bottom.length && unique.length < n;
  // x: top block on the left, bottom block on the right, a break between when the middle is not computed.
  const slots = unique.length + (gap ? 1.5 : 0);
  const xOf = (i: number) => L + ((i + 0.5) / Math.max(slots, 1)) * pw;
  const yOf = (v: number) => T + ((yMax - Math.log10(Math.max(v, 10 ** yMin))) / (yMax - yMin)) * ph;
  const parts: string[] = [];
  parts.push(`<svg class="plot spectrum" role="img" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" xmlns="http://www.w3.org/2000/svg" aria-label="${esc(s.title)}">`);
  parts.push(`<title>${esc(s.title)}</title>`);
  parts.push(`<text class="plot-title" x="${L}" y="20">${esc(s.title)}</text>`);
  // Decade grid lines and labels.
  const step = Math.max(1, Math.ceil((yMax - yMin) / 6));
  for (let e = yMin; e <= yMax; e += step) {
    const y = r1(yOf(10 ** e));
    parts.push(`<line class="grid" x1="${L}" x2="${W - R}" y1="${y}" y2="${y}"/>`);
    parts.push(`<text class="tick" x="${L - 6}" y="${y + 4}" text-anchor="end">1e${e}</text>`);
  }
  parts.push(`<line class="axis" x1="${L}" x2="${L}" y1="${T}" y2="${T + ph}"/><line class="axis" x1="${L}" x2="${W - R}" y1="${T + ph}" y2="${T + ph}"/>`);
  if (s.damping && s.damping > 0 && Math.log10(s.damping) >= yMin && Math.log10(s.damping) <= yMax) {
    const y = r1(yOf(s.damping));
    parts.push(`<line class="damping" x1="${L}" x2="${W - R}" y1="${y}" y2="${y}"/><text class="tick" x="${W - R}" y="${y - 4}" text-anchor="end">damping ε = ${esc(fmt(s.damping))}</text>`);
  }
  const placed = unique.map((p, i) => ({ ...p, x: r1(xOf(i + (gap && p.end === 'bottom' ? 1.5 : 0))), y: r1(yOf(p.v)) }));
  for (const end of ['top', 'bottom'] as const) {
    const line = placed.filter((p) => p.end === end);
    if (line.length > 1) parts.push(`<polyline class="series ${end}" points="${line.map((p) => `${p.x},${p.y}`).join(' ')}"/>`);
  }
  for (const p of placed) {
    const clipped = !(p.v > 0);
    parts.push(`<circle class="point ${p.end}${clipped ? ' clipped' : ''}" cx="${p.x}" cy="${p.y}" r="3.2"><title>λ${p.k} = ${esc(fmt(p.v))}${clipped ? ' (≤ 0: drawn at the axis floor)' : ''}</title></circle>`);
  }
  if (gap) {
    const top = placed.filter((p) => p.end === 'top');
    const xb = r1((top[top.length - 1].x + placed.find((p) => p.end === 'bottom')!.x) / 2);
    parts.push(`<line class="break" x1="${xb}" x2="${xb}" y1="${T}" y2="${T + ph}"/><text class="tick" x="${xb}" y="${T + ph + 14}" text-anchor="middle">…</text>`);
  }
  // x labels: first and last of each block.
  const labelled = new Set<number>();
  let lastX = -Infinity;
  for (const end of ['top', 'bottom'] as const) {
    const block = placed.filter((p) => p.end === end);
    for (const p of [block[0], block[block.length - 1]]) {
      if (!p || labelled.has(p.k) || p.x - lastX < 34) continue;
      labelled.add(p.k);
      lastX = p.x;
      parts.push(`<text class="tick" x="${p.x}" y="${T + ph + 14}" text-anchor="middle">${p.k}</text>`);
    }
  }
  parts.push(`<text class="axis-label" x="${L + pw / 2}" y="${H - 8}" text-anchor="middle">eigenvalue index k (descending${s.dimension ? `, of ${s.dimension}` : ''})</text>`);
  parts.push(`<text class="axis-label" transform="translate(14 ${T + ph / 2}) rotate(-90)" text-anchor="middle">λ_k of J Jᵀ</text>`);
  parts.push('</svg>');
  return parts.join('');
}

export interface SpreadInput {
  samples: { sample: number; psnr: number }[];
  thresholds: { high: number; medium: number };
  title: string;
  /** Another graded quantity in place of the PSNR (text models: % of tokens recovered, on a fixed 0–100 axis). */
  measure?: { name: string; unit: string; axisLabel: string; max: number };
}

export function riskOfPsnr(psnr: number, t: { high: number; medium: number }): 'high' | 'medium' | 'low' {
  return psnr >= t.high ? 'high' : psnr >= t.medium ? 'medium' : 'low';
}

/** One horizontal bar per sample: its predicted attacker PSNR (dB), with the medium and high thresholds marked. */
export function spreadSvg(s: SpreadInput): string {
  const rows = s.samples.length;
  const W = 470, L = 84, R = 64, T = 44, B = 40, rowH = 22;
  const ph = Math.max(rows, 1) * rowH;
  const H = T + ph + B;
  const pw = W - L - R;
  const finiteMax = Math.max(0, ...s.samples.map((x) => x.psnr).filter(Number.isFinite));
  const m = s.measure ?? { name: 'predicted attacker PSNR', unit: ' dB', axisLabel: 'predicted attacker PSNR (dB); higher = better reconstruction = more leakage', max: 0 };
  const xMax = s.measure ? s.measure.max : Math.max(s.thresholds.high * 1.25, finiteMax * 1.1, 10);
  const lowest = Math.min(0, ...s.samples.map((x) => x.psnr).filter(Number.isFinite));
  // Room left of the lowest value, so that a very negative PSNR still draws a visible bar.
  const xMin = lowest < 0 ? Math.floor((lowest - 5) / 10) * 10 : 0;
  const xOf = (v: number) => L + ((Math.min(Math.max(v, xMin), xMax) - xMin) / (xMax - xMin)) * pw;
  const parts: string[] = [];
  parts.push(`<svg class="plot spread" role="img" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" xmlns="http://www.w3.org/2000/svg" aria-label="${esc(s.title)}">`);
  parts.push(`<title>${esc(s.title)}</title>`);
  parts.push(`<text class="plot-title" x="${L}" y="20">${esc(s.title)}</text>`);
  const ticks = niceTicks(xMin, xMax, 6);
  for (const t of ticks) {
    const x = r1(xOf(t));
    parts.push(`<line class="grid" x1="${x}" x2="${x}" y1="${T}" y2="${T + ph}"/><text class="tick" x="${x}" y="${T + ph + 14}" text-anchor="middle">${t}</text>`);
  }
  // Risk bands behind the bars.
  const band = (from: number, to: number, cls: string) => {
    const x1 = r1(xOf(from)), x2 = r1(xOf(to));
    if (x2 > x1) parts.push(`<rect class="band ${cls}" x="${x1}" y="${T}" width="${r1(x2 - x1)}" height="${ph}"/>`);
  };
  band(xMin, s.thresholds.medium, 'low');
  band(s.thresholds.medium, s.thresholds.high, 'medium');
  band(s.thresholds.high, xMax, 'high');
  s.samples.forEach((x, i) => {
    const y = T + i * rowH + 4;
    const w = r1(xOf(x.psnr) - xOf(xMin));
    const risk = riskOfPsnr(x.psnr, s.thresholds);
    parts.push(`<text class="tick" x="${L - 6}" y="${y + rowH / 2 + 1}" text-anchor="end">sample ${x.sample}</text>`);
    parts.push(`<rect class="bar risk-${risk}" x="${r1(xOf(xMin))}" y="${y}" width="${Math.max(w, 1)}" height="${rowH - 8}"><title>sample ${x.sample}: ${esc(m.name)} ${esc(fmt(x.psnr))}${m.unit} (${risk})</title></rect>`);
    parts.push(`<text class="value" x="${r1(xOf(xMin) + Math.max(w, 1) + 4)}" y="${y + rowH / 2 + 1}">${esc(fmt(x.psnr))}${m.unit}</text>`);
  });
  for (const [v, name] of [[s.thresholds.medium, 'medium'], [s.thresholds.high, 'high']] as const) {
    const x = r1(xOf(v));
    // medium's label to the left of its line, high's to the right: they never overlap.
    parts.push(`<line class="threshold" x1="${x}" x2="${x}" y1="${T - 14}" y2="${T + ph}"/><text class="tick" x="${name === 'medium' ? x - 4 : x + 4}" y="${T - 6}" text-anchor="${name === 'medium' ? 'end' : 'start'}">${name} ≥ ${v}${m.unit}</text>`);
  }
  parts.push(`<line class="axis" x1="${L}" x2="${W - R}" y1="${T + ph}" y2="${T + ph}"/>`);
  parts.push(`<text class="axis-label" x="${L + pw / 2}" y="${H - 8}" text-anchor="middle">${esc(m.axisLabel)}</text>`);
  parts.push('</svg>');
  return parts.join('');
}

function niceTicks(lo: number, hi: number, count: number): number[] {
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) out.push(Math.round(v * 1e6) / 1e6);
  return out;
}

export interface HistoryInput {
  /** One point per checkpoint, in training order. */
  points: { label: string; psnr: number | null; ceiling: number | null; title: string }[];
  thresholds: { high: number; medium: number };
  title: string;
}

/** Predicted attacker PSNR per checkpoint (solid) and the ceiling its lower bound sets (dashed), risk bands behind. */
export function historySvg(h: HistoryInput): string {
  const W = 470, H = 260, L = 56, R = 16, T = 34, B = 44;
  const pw = W - L - R, ph = H - T - B;
  const values = h.points.flatMap((p) => [p.psnr, p.ceiling]).filter((v): v is number => v !== null && Number.isFinite(v));
  let lo = Math.min(0, h.thresholds.medium, ...values);
  let hi = Math.max(h.thresholds.high, ...values);
  const pad = (hi - lo) * 0.08 || 1;
  lo = Math.floor((lo - pad) / 5) * 5;
  hi = Math.ceil((hi + pad) / 5) * 5;
  const n = h.points.length;
  const xOf = (i: number) => L + ((i + 0.5) / Math.max(n, 1)) * pw;
  const yOf = (v: number) => T + ((hi - v) / (hi - lo)) * ph;
  const parts: string[] = [];
  parts.push(`<svg class="plot history" role="img" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" xmlns="http://www.w3.org/2000/svg" aria-label="${esc(h.title)}">`);
  parts.push(`<title>${esc(h.title)}</title>`);
  parts.push(`<text class="plot-title" x="${L}" y="20">${esc(h.title)}</text>`);
  // Risk bands: above the high threshold, between, below.
  const band = (cls: string, a: number, b: number) => {
    const y1 = r1(yOf(Math.min(hi, Math.max(a, b))));
    const y2 = r1(yOf(Math.max(lo, Math.min(a, b))));
    if (y2 > y1) parts.push(`<rect class="band ${cls}" x="${L}" y="${y1}" width="${pw}" height="${r1(y2 - y1)}"/>`);
  };
  band('high', hi, h.thresholds.high);
  band('medium', h.thresholds.high, h.thresholds.medium);
  band('low', h.thresholds.medium, lo);
  const step = Math.max(5, Math.ceil((hi - lo) / 6 / 5) * 5);
  for (let v = Math.ceil(lo / step) * step; v <= hi; v += step) {
    const y = r1(yOf(v));
    parts.push(`<line class="grid" x1="${L}" x2="${W - R}" y1="${y}" y2="${y}"/>`);
    parts.push(`<text class="tick" x="${L - 6}" y="${y + 4}" text-anchor="end">${v}</text>`);
  }
  parts.push(`<line class="axis" x1="${L}" x2="${W - R}" y1="${T + ph}" y2="${T + ph}"/>`);
  const every = Math.max(1, Math.ceil(n / 10));
  h.points.forEach((p, i) => {
    if (i % every === 0) parts.push(`<text class="tick" x="${r1(xOf(i))}" y="${T + ph + 16}" text-anchor="middle">${esc(p.label)}</text>`);
  });
  const line = (key: 'psnr' | 'ceiling', cls: string) => {
    let d = '';
    let open = false;
    h.points.forEach((p, i) => {
      const v = p[key];
      if (v === null || !Number.isFinite(v)) {
        open = false;
        return;
      }
      d += `${open ? 'L' : 'M'}${r1(xOf(i))},${r1(yOf(v))}`;
      open = true;
    });
    if (d) parts.push(`<path class="series ${cls}" d="${d}"/>`);
    h.points.forEach((p, i) => {
      const v = p[key];
      if (v !== null && Number.isFinite(v)) parts.push(`<circle class="point ${cls}" cx="${r1(xOf(i))}" cy="${r1(yOf(v))}" r="3.5" data-value="${v}"><title>${esc(`${p.title}: ${key === 'psnr' ? 'predicted PSNR' : 'ceiling from the lower bound'} ${fmt(v)} dB`)}</title></circle>`);
    });
  };
  line('ceiling', 'bottom ceiling');
  line('psnr', 'top');
  parts.push(`<text class="axis-label" x="${L + pw / 2}" y="${H - 6}" text-anchor="middle">checkpoint (round / step)</text>`);
  parts.push(`<text class="axis-label" transform="translate(14,${T + ph / 2}) rotate(-90)" text-anchor="middle">PSNR (dB)</text>`);
  parts.push('</svg>');
  return parts.join('');
}
