// SVG charts drawn with d3 (scales, axes, selections): colours come from CSS classes bound to --vscode-* variables,
// so the theme follows VS Code; marks carry data-value so tests and exports can read what was drawn.

import { axisBottom, axisLeft, axisRight } from 'd3-axis';
import { format } from 'd3-format';
import { scaleBand, scaleLinear, scaleLog, type ScaleBand, type ScaleContinuousNumeric } from 'd3-scale';
import { select, type Selection } from 'd3-selection';

type Svg = Selection<SVGSVGElement, unknown, null, undefined>;
type G = Selection<SVGGElement, unknown, null, undefined>;

export interface Series {
  name: string;
  /** CSS class giving its colour (see styles.css: s-blue, s-orange, …). */
  cls: string;
  values: (number | null)[];
}

export interface Marker {
  value: number;
  label: string;
  cls: string;
}

export interface ChartFrame {
  id: string;
  title: string;
  yLabel: string;
  xLabel?: string;
  width?: number;
  height?: number;
  /** Room for a right-hand axis (default 16). */
  marginRight?: number;
}

const MARGIN = { top: 44, right: 16, bottom: 44, left: 64 };
const superscript = (n: number) => String(n).replace(/[-0-9]/g, (c) => '⁻⁰¹²³⁴⁵⁶⁷⁸⁹'['-0123456789'.indexOf(c)]);
const logTick = (v: number) => {
  const e = Math.log10(v);
  return Math.abs(e - Math.round(e)) < 1e-9 ? `10${superscript(Math.round(e))}` : '';
};
const linearTick = format('~g');

function frame(container: HTMLElement, f: ChartFrame): { svg: Svg; plot: G; w: number; h: number } {
  container.replaceChildren();
  // Drawn at the container's own width, so 11px text stays 11px (a fixed viewBox scaled up made it huge).
  const width = f.width ?? chartWidth(container);
  const height = f.height ?? 260;
  const svg = select(container)
    .append('svg')
    .attr('xmlns', 'http://www.w3.org/2000/svg')
    .attr('class', 'chart')
    .attr('data-chart', f.id)
    .attr('viewBox', `0 0 ${width} ${height}`)
    .attr('role', 'img')
    .attr('aria-label', f.title) as Svg;
  svg.append('rect').attr('class', 'chart-bg').attr('width', width).attr('height', height);
  svg.append('text').attr('class', 'chart-title').attr('x', MARGIN.left).attr('y', 18).text(f.title);
  const w = width - MARGIN.left - (f.marginRight ?? MARGIN.right);
  const h = height - MARGIN.top - MARGIN.bottom;
  const plot = svg.append('g').attr('transform', `translate(${MARGIN.left},${MARGIN.top})`) as G;
  svg.append('text').attr('class', 'axis-label').attr('transform', `translate(14,${MARGIN.top + h / 2}) rotate(-90)`).attr('text-anchor', 'middle').text(f.yLabel);
  if (f.xLabel) svg.append('text').attr('class', 'axis-label').attr('x', MARGIN.left + w / 2).attr('y', height - 6).attr('text-anchor', 'middle').text(f.xLabel);
  return { svg, plot, w, h };
}

/** The width a chart gets: its container's, within sensible bounds (560 when not laid out yet). */
export function chartWidth(container: HTMLElement): number {
  const w = container.clientWidth;
  return w > 0 ? Math.max(320, Math.min(1400, Math.floor(w))) : 560;
}

function yScale(values: number[], h: number, log: boolean, extra: number[] = []): ScaleContinuousNumeric<number, number> {
  const all = [...values, ...extra].filter((v) => Number.isFinite(v) && (!log || v > 0));
  if (log) {
    const lo = all.length ? Math.min(...all) : 1e-3;
    const hi = all.length ? Math.max(...all) : 1;
    return scaleLog().domain([10 ** Math.floor(Math.log10(lo)), 10 ** Math.ceil(Math.log10(hi) + (hi === lo ? 1 : 0))]).range([h, 0]);
  }
  const lo = Math.min(0, ...all);
  const hi = Math.max(0, ...all);
  return scaleLinear().domain([lo, hi > lo ? hi : lo + 1]).nice().range([h, 0]);
}

function axes(plot: G, x: ScaleBand<string>, y: ScaleContinuousNumeric<number, number>, h: number, log: boolean, w: number, everyNth = 1): void {
  const xa = axisBottom(x).tickValues(x.domain().filter((_, i) => i % everyNth === 0));
  plot.append('g').attr('class', 'axis axis-x').attr('transform', `translate(0,${h})`).call(xa);
  const ya = axisLeft(y).ticks(log ? 10 : 5).tickFormat((v) => (log ? logTick(Number(v)) : linearTick(Number(v))));
  plot.append('g').attr('class', 'axis axis-y').call(ya);
  plot.append('g').attr('class', 'grid').call(axisLeft(y).ticks(5).tickSize(-w).tickFormat(() => ''));
}

function legend(svg: Svg, items: { name: string; cls: string }[], right: number): void {
  const g = svg.append('g').attr('class', 'legend');
  let x = right;
  for (const it of [...items].reverse()) {
    const width = 16 + it.name.length * 6.4;
    x -= width + 10;
    const item = g.append('g').attr('transform', `translate(${x},25)`);
    item.append('rect').attr('class', `swatch ${it.cls}`).attr('width', 10).attr('height', 10);
    item.append('text').attr('x', 14).attr('y', 9).text(it.name);
  }
}

function markers(plot: G, y: ScaleContinuousNumeric<number, number>, w: number, ms: Marker[]): void {
  for (const m of ms) {
    if (!(m.value > 0) && !(y.domain()[0] <= 0)) continue;
    const yy = y(m.value);
    if (!Number.isFinite(yy)) continue;
    const g = plot.append('g').attr('class', `marker ${m.cls}`).attr('data-marker', m.label);
    g.append('line').attr('x1', 0).attr('x2', w).attr('y1', yy).attr('y2', yy);
    g.append('text').attr('x', w - 4).attr('y', yy - 4).attr('text-anchor', 'end').text(m.label);
  }
}

/** Eigenvalues on a log axis: the top k, a break, the bottom k; λmax/λmin/ε as labelled lines. */
export function eigenvaluePlot(container: HTMLElement, f: ChartFrame & {
  top: number[]; bottom: number[]; bottomUnconverged: boolean[]; inputSize: number; markers: Marker[];
}): SVGSVGElement {
  const { svg, plot, w, h } = frame(container, f);
  const n = f.inputSize;
  // Index order (1 = largest … n = smallest): the bottom values arrive ascending, λn = λmin first.
  const cats = [...f.top.map((_, i) => `${i + 1}`), '…', ...f.bottom.map((_, i) => `${n - f.bottom.length + i + 1}`)];
  const bottomDesc = [...f.bottom].reverse();
  const unconvergedDesc = [...f.bottomUnconverged].reverse();
  const values = [...f.top, NaN, ...bottomDesc];
  const x = scaleBand<string>().domain(cats).range([0, w]).padding(0.3);
  const y = yScale(values, h, true, f.markers.map((m) => m.value).filter((v) => v > 0));
  axes(plot, x, y, h, true, w, cats.length > 24 ? 2 : 1);
  markers(plot, y, w, f.markers);
  const pts = plot.append('g').attr('class', 'marks');
  values.forEach((v, i) => {
    if (!(v > 0)) return;
    const bottom = i > f.top.length;
    const open = bottom && unconvergedDesc[i - f.top.length - 1];
    pts.append('circle')
      .attr('class', `mark ${bottom ? 's-orange' : 's-blue'}${open ? ' open' : ''}`)
      .attr('cx', x(cats[i])! + x.bandwidth() / 2).attr('cy', y(v)).attr('r', 4.5)
      .attr('data-value', v)
      .append('title').text(`λ${cats[i]} = ${v.toPrecision(6)}${open ? ' (not converged: Ritz residual large)' : ''}`);
  });
  legend(svg, [{ name: 'largest λ', cls: 's-blue' }, { name: 'smallest λ', cls: 's-orange' }], Number(svg.attr('viewBox').split(' ')[2]) - 8);
  return svg.node()!;
}

/** Grouped bars (one group per category), optional log axis, whiskers, and one highlighted category. */
export function barChart(container: HTMLElement, f: ChartFrame & {
  categories: string[]; series: Series[]; log?: boolean; highlight?: number; markers?: Marker[];
  whiskers?: { lo: (number | null)[]; hi: (number | null)[] }; titles?: string[];
}): SVGSVGElement {
  const { svg, plot, w, h } = frame(container, f);
  const x = scaleBand<string>().domain(f.categories).range([0, w]).padding(0.2);
  const flat = f.series.flatMap((s) => s.values).filter((v): v is number => v !== null && Number.isFinite(v));
  const whiskerValues = f.whiskers ? [...f.whiskers.lo, ...f.whiskers.hi].filter((v): v is number => v !== null && Number.isFinite(v)) : [];
  const y = yScale([...flat, ...whiskerValues], h, f.log ?? false, (f.markers ?? []).map((m) => m.value));
  if (f.highlight !== undefined && f.highlight >= 0) {
    plot.append('rect').attr('class', 'highlight').attr('x', x(f.categories[f.highlight])! - 2).attr('y', 0)
      .attr('width', x.bandwidth() + 4).attr('height', h);
  }
  axes(plot, x, y, h, f.log ?? false, w, f.categories.length > 40 ? Math.ceil(f.categories.length / 20) : 1);
  const inner = scaleBand<number>().domain(f.series.map((_, i) => i)).range([0, x.bandwidth()]).padding(0.08);
  const base = f.log ? y.range()[0] : y(0);
  const marks = plot.append('g').attr('class', 'marks');
  f.series.forEach((s, si) => {
    s.values.forEach((v, i) => {
      if (v === null || !Number.isFinite(v) || (f.log && !(v > 0))) return;
      const top = y(v);
      const rect = marks.append('rect')
        .attr('class', `mark ${s.cls}${i === f.highlight ? ' emphasised' : ''}`)
        .attr('x', x(f.categories[i])! + inner(si)!).attr('width', inner.bandwidth())
        .attr('y', Math.min(top, base)).attr('height', Math.max(1, Math.abs(base - top)))
        .attr('data-series', s.name).attr('data-value', v);
      rect.append('title').text(f.titles?.[i] ?? `${s.name} ${f.categories[i]}: ${v.toPrecision(4)}`);
    });
  });
  if (f.whiskers) {
    const wk = plot.append('g').attr('class', 'whiskers');
    f.categories.forEach((c, i) => {
      const lo = f.whiskers!.lo[i];
      const hi = f.whiskers!.hi[i];
      if (lo === null || hi === null || !Number.isFinite(lo) || !Number.isFinite(hi)) return;
      const cx = x(c)! + x.bandwidth() / 2;
      wk.append('line').attr('x1', cx).attr('x2', cx).attr('y1', y(lo)).attr('y2', y(hi));
      for (const v of [lo, hi]) wk.append('line').attr('x1', cx - 5).attr('x2', cx + 5).attr('y1', y(v)).attr('y2', y(v));
    });
  }
  markers(plot, y, w, f.markers ?? []);
  if (f.series.length > 1 || f.series[0]?.name) legend(svg, f.series, Number(svg.attr('viewBox').split(' ')[2]) - 8);
  return svg.node()!;
}

/** Lines with a point per category (one category per checkpoint, in training order); null values leave a gap. */
export function linePlot(container: HTMLElement, f: ChartFrame & { categories: string[]; series: (Series & { dashed?: boolean })[]; markers?: Marker[]; titles?: string[] }): SVGSVGElement {
  const { svg, plot, w, h } = frame(container, f);
  const x = scaleBand<string>().domain(f.categories).range([0, w]).padding(0.2);
  const flat = f.series.flatMap((s) => s.values).filter((v): v is number => v !== null && Number.isFinite(v));
  const y = yScale(flat, h, false, (f.markers ?? []).map((m) => m.value));
  axes(plot, x, y, h, false, w, f.categories.length > 20 ? Math.ceil(f.categories.length / 12) : 1);
  markers(plot, y, w, f.markers ?? []);
  const cx = (i: number) => x(f.categories[i])! + x.bandwidth() / 2;
  const marks = plot.append('g').attr('class', 'marks');
  for (const s of f.series) {
    // One path segment per run of finite values.
    let d = '';
    let open = false;
    s.values.forEach((v, i) => {
      if (v === null || !Number.isFinite(v)) {
        open = false;
        return;
      }
      d += `${open ? 'L' : 'M'}${cx(i).toFixed(2)},${y(v).toFixed(2)}`;
      open = true;
    });
    marks.append('path').attr('class', `line ${s.cls}${s.dashed ? ' dashed' : ''}`).attr('d', d).attr('fill', 'none').attr('data-series', s.name);
    s.values.forEach((v, i) => {
      if (v === null || !Number.isFinite(v)) return;
      marks.append('circle').attr('class', `mark ${s.cls}`).attr('cx', cx(i)).attr('cy', y(v)).attr('r', 4)
        .attr('data-series', s.name).attr('data-value', v)
        .append('title').text(f.titles?.[i] ? `${f.titles[i]} · ${s.name} ${v.toPrecision(4)}` : `${s.name} ${f.categories[i]}: ${v.toPrecision(4)}`);
    });
  }
  legend(svg, f.series, Number(svg.attr('viewBox').split(' ')[2]) - 8);
  return svg.node()!;
}

/** Powers of ten within a log domain, thinned to at most 8 ticks. */
function decades([lo, hi]: number[]): number[] {
  const a = Math.ceil(Math.log10(lo));
  const b = Math.floor(Math.log10(hi));
  const step = Math.max(1, Math.ceil((b - a + 1) / 8));
  const out: number[] = [];
  for (let e = a; e <= b; e += step) out.push(10 ** e);
  return out;
}

/**
 * Two curves against one log x axis: predicted PSNR (left, linear, blue) and DP ε (right, log, orange) over the noise
 * multiplier σ, the current σ as a vertical line with a point on each curve, the PSNR target and the ε threshold as
 * dashed lines in their curve's colour. Marks carry data-series and data-value.
 */
export function frontierPlot(container: HTMLElement, f: ChartFrame & {
  points: { x: number; psnr: number | null; epsilon: number | null }[];
  current: { x: number; psnr: number | null; epsilon: number | null };
  psnrTarget?: number;
  epsilonThreshold?: number;
}): SVGSVGElement {
  const { svg, plot, w, h } = frame(container, { ...f, marginRight: 56 });
  const xs = f.points.map((p) => p.x).filter((v) => v > 0);
  const x = scaleLog().domain([Math.min(...xs), Math.max(...xs)]).range([0, w]);
  const psnrs = f.points.map((p) => p.psnr).filter((v): v is number => v !== null && Number.isFinite(v));
  const yl = yScale(psnrs, h, false, f.psnrTarget !== undefined ? [f.psnrTarget] : []);
  const epss = f.points.map((p) => p.epsilon).filter((v): v is number => v !== null && v > 0);
  const yr = yScale(epss, h, true, f.epsilonThreshold ? [f.epsilonThreshold] : []);
  plot.append('g').attr('class', 'axis axis-x').attr('transform', `translate(0,${h})`).call(axisBottom(x).ticks(6, '~g'));
  plot.append('g').attr('class', 'axis axis-y').call(axisLeft(yl).ticks(5).tickFormat((v) => linearTick(Number(v))));
  plot.append('g').attr('class', 'axis axis-y axis-right').attr('transform', `translate(${w},0)`)
    .call(axisRight(yr).tickValues(decades(yr.domain())).tickFormat((v) => logTick(Number(v))));
  plot.append('g').attr('class', 'grid').call(axisLeft(yl).ticks(5).tickSize(-w).tickFormat(() => ''));
  const reference = (y: number, cls: string, label: string, anchorEnd: boolean) => {
    if (!Number.isFinite(y)) return;
    const g = plot.append('g').attr('class', `marker ${cls}`).attr('data-marker', label);
    g.append('line').attr('x1', 0).attr('x2', w).attr('y1', y).attr('y2', y);
    g.append('text').attr('x', anchorEnd ? w - 4 : 4).attr('y', y - 4).attr('text-anchor', anchorEnd ? 'end' : 'start').text(label);
  };
  if (f.psnrTarget !== undefined) reference(yl(f.psnrTarget), 'm-max', `target ${f.psnrTarget} dB`, false);
  if (f.epsilonThreshold) reference(yr(f.epsilonThreshold), 'm-min', `ε ${f.epsilonThreshold}`, true);
  const marks = plot.append('g').attr('class', 'marks');
  const curve = (name: string, cls: string, y: (p: { psnr: number | null; epsilon: number | null }) => number | null) => {
    let d = '';
    let open = false;
    for (const p of f.points) {
      const v = y(p);
      if (v === null || !Number.isFinite(v)) {
        open = false;
        continue;
      }
      d += `${open ? 'L' : 'M'}${x(p.x).toFixed(2)},${v.toFixed(2)}`;
      open = true;
    }
    marks.append('path').attr('class', `line ${cls}`).attr('d', d).attr('fill', 'none').attr('data-series', name);
  };
  curve('psnr', 's-blue', (p) => (p.psnr === null ? null : yl(p.psnr)));
  curve('epsilon', 's-orange', (p) => (p.epsilon === null || !(p.epsilon > 0) ? null : yr(p.epsilon)));
  const cx = x(Math.min(Math.max(f.current.x, x.domain()[0]), x.domain()[1]));
  const now = plot.append('g').attr('class', 'current').attr('data-value', f.current.x);
  now.append('line').attr('class', 'current-line').attr('x1', cx).attr('x2', cx).attr('y1', 0).attr('y2', h);
  if (f.current.psnr !== null && Number.isFinite(f.current.psnr)) {
    now.append('circle').attr('class', 'mark s-blue').attr('cx', cx).attr('cy', yl(f.current.psnr)).attr('r', 5)
      .attr('data-series', 'psnr').attr('data-value', f.current.psnr).append('title').text(`PSNR ${f.current.psnr.toPrecision(4)} dB at σ ${f.current.x.toPrecision(4)}`);
  }
  if (f.current.epsilon !== null && f.current.epsilon > 0) {
    now.append('circle').attr('class', 'mark s-orange').attr('cx', cx).attr('cy', yr(f.current.epsilon)).attr('r', 5)
      .attr('data-series', 'epsilon').attr('data-value', f.current.epsilon).append('title').text(`ε ${f.current.epsilon.toPrecision(4)} at σ ${f.current.x.toPrecision(4)}`);
  }
  legend(svg, [{ name: 'predicted PSNR (dB, left)', cls: 's-blue' }, { name: 'DP ε (right, log)', cls: 's-orange' }], Number(svg.attr('viewBox').split(' ')[2]) - 8);
  return svg.node()!;
}

/** Horizontal bars with a label per row (the op histogram): rows grow the chart's height. */
export function horizontalBars(container: HTMLElement, f: ChartFrame & { rows: { label: string; value: number; cls: string; title?: string }[] }): SVGSVGElement {
  const rowHeight = 20;
  const left = 150;
  const width = f.width ?? chartWidth(container);
  const height = 40 + f.rows.length * rowHeight + 30;
  container.replaceChildren();
  const svg = select(container).append('svg').attr('xmlns', 'http://www.w3.org/2000/svg').attr('class', 'chart')
    .attr('data-chart', f.id).attr('viewBox', `0 0 ${width} ${height}`).attr('role', 'img').attr('aria-label', f.title) as Svg;
  svg.append('rect').attr('class', 'chart-bg').attr('width', width).attr('height', height);
  svg.append('text').attr('class', 'chart-title').attr('x', 8).attr('y', 18).text(f.title);
  const w = width - left - 40;
  const x = scaleLinear().domain([0, Math.max(1, ...f.rows.map((r) => r.value))]).nice().range([0, w]);
  const y = scaleBand<string>().domain(f.rows.map((r) => r.label)).range([0, f.rows.length * rowHeight]).padding(0.2);
  const plot = svg.append('g').attr('transform', `translate(${left},30)`);
  plot.append('g').attr('class', 'axis axis-y').call(axisLeft(y).tickSize(0).tickPadding(6));
  plot.append('g').attr('class', 'axis axis-x').attr('transform', `translate(0,${f.rows.length * rowHeight})`)
    .call(axisBottom(x).ticks(Math.min(5, x.domain()[1])).tickFormat(format('d')));
  f.rows.forEach((r) => {
    const bar = plot.append('rect').attr('class', `mark ${r.cls}`).attr('x', 0).attr('y', y(r.label)!)
      .attr('width', Math.max(1, x(r.value))).attr('height', y.bandwidth()).attr('data-value', r.value).attr('data-label', r.label);
    bar.append('title').text(r.title ?? `${r.label}: ${r.value}`);
    plot.append('text').attr('class', 'bar-value').attr('x', x(r.value) + 4).attr('y', y(r.label)! + y.bandwidth() / 2 + 4).text(String(r.value));
  });
  return svg.node()!;
}

// ── Export ──────────────────────────────────────────────────────────────────────────────────────────────────────

const PAINT = ['fill', 'stroke', 'stroke-width', 'stroke-dasharray', 'opacity', 'fill-opacity', 'font-family', 'font-size', 'font-weight'] as const;

/**
 * A standalone SVG of a chart: theme colours resolved and written as presentation attributes (the file is opened
 * outside VS Code, where --vscode-* variables do not exist). No style attributes: the page's CSP forbids them.
 */
export function standaloneSvg(svg: SVGSVGElement): string {
  const clone = svg.cloneNode(true) as SVGSVGElement;
  const from = [svg, ...Array.from(svg.querySelectorAll('*'))];
  const to = [clone, ...Array.from(clone.querySelectorAll('*'))];
  from.forEach((node, i) => {
    const cs = getComputedStyle(node as Element);
    for (const p of PAINT) {
      const v = cs.getPropertyValue(p);
      if (v) to[i].setAttribute(p, v);
    }
    if (node instanceof SVGTextElement) to[i].setAttribute('fill', cs.getPropertyValue('fill') || cs.color);
  });
  const [, , w, h] = (svg.getAttribute('viewBox') ?? '0 0 560 260').split(' ').map(Number);
  clone.setAttribute('width', String(w));
  clone.setAttribute('height', String(h));
  return `<?xml version="1.0" encoding="UTF-8"?>\n${new XMLSerializer().serializeToString(clone)}`;
}

/** A PNG (data URL, 2× scale) of a chart, drawn from its standalone SVG (img-src data: in the CSP allows it). */
export function chartPng(svg: SVGSVGElement, scale = 2): Promise<string> {
  const text = standaloneSvg(svg);
  const [, , w, h] = (svg.getAttribute('viewBox') ?? '0 0 560 260').split(' ').map(Number);
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => {
      const canvas = document.createElement('canvas');
      canvas.width = w * scale;
      canvas.height = h * scale;
      const ctx = canvas.getContext('2d')!;
      ctx.scale(scale, scale);
      ctx.drawImage(img, 0, 0, w, h);
      resolve(canvas.toDataURL('image/png'));
    };
    img.onerror = () => reject(new Error('could not rasterise the chart'));
    img.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(text)}`;
  });
}
