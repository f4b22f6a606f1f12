// The model report page (custom read-only editor for .onnx and tfjs model.json): what the server read from disk,
// the op support check, the latest leakage results, and a way into the spectrum.

import type { LatestResult, ModelSummary, ReportHostMessage, ReportPageMessage, TensorInfo } from '../../../server/src/webviewProtocol';
import { horizontalBars } from '../common/charts';
import { db, el, int, num } from '../common/format';
import { connectHost } from '../common/host';
import { checkReportHostMessage } from '../common/hostMessages';

interface ReportState {
  summary?: ModelSummary;
  results?: LatestResult[];
}

const host = connectHost<ReportPageMessage, ReportHostMessage, ReportState>(checkReportHostMessage);
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

function status(text: string, kind: 'busy' | 'error' | 'info' = 'info'): void {
  const s = $('status');
  s.textContent = text;
  s.className = `status ${kind}`;
}

function table(t: HTMLTableElement, head: string[], rows: (string | HTMLElement)[][]): void {
  const thead = el('thead');
  const tr = el('tr');
  tr.append(...head.map((h) => el('th', undefined, h)));
  thead.append(tr);
  const tbody = el('tbody');
  for (const r of rows) {
    const row = el('tr');
    row.append(...r.map((c) => {
      const td = el('td');
      td.append(c);
      return td;
    }));
    tbody.append(row);
  }
  t.replaceChildren(thead, tbody);
}

const shape = (t: TensorInfo) => `[${t.dims.join(', ')}]`;
const bytes = (n: number) => (n >= 2 ** 20 ? `${(n / 2 ** 20).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} bytes`);

function render(s: ModelSummary, results: LatestResult[]): void {
  document.body.classList.remove('empty');
  $('title').textContent = `Model report — ${s.file.split(/[\\/]/).pop()}`;
  $('subtitle').textContent = [s.format === 'onnx' ? `ONNX, opset ${s.opset ?? '?'}` : 'TensorFlow.js model.json', bytes(s.bytes), s.producer ? `by ${s.producer}` : ''].filter(Boolean).join(' · ');
  const verdict = $('verdict');
  verdict.textContent = s.analysable ? 'analysable' : 'not analysable';
  verdict.className = `badge ${s.analysable ? 'risk-low' : 'risk-high'}`;
  $('notes').replaceChildren(...s.notes.map((n) => el('li', undefined, n)));
  table($<HTMLTableElement>('inputs'), ['name', 'shape', 'type'], s.inputs.map((t) => [t.name, shape(t), t.dtype]));
  table($<HTMLTableElement>('outputs'), ['name', 'shape', 'type'], s.outputs.map((t) => [t.name, shape(t), t.dtype]));
  const params = $('params');
  params.replaceChildren(...[
    ['trainable parameters (θ)', int(s.parameters)], ['all weights', int(s.weights)], ['θ tensors', String(s.theta.length)],
  ].map(([a, b]) => {
    const d = el('div', 'fact');
    d.append(el('span', 'fact-label', a), el('span', 'fact-value', b));
    return d;
  }));
  table($<HTMLTableElement>('theta'), ['name', 'shape', 'size'], s.theta.map((t) => [t.name, `[${t.dims.join(', ')}]`, int(t.dims.reduce((a, b) => a * b, 1))]));
  horizontalBars($('ops-chart'), {
    id: 'ops', title: 'Op histogram (red: not supported by the analysis)', yLabel: 'op',
    rows: s.ops.map((o) => ({
      label: o.domain && o.domain !== 'keras' && o.domain !== 'tf' ? `${o.domain}::${o.op}` : o.op, value: o.count,
      cls: o.supported ? 's-blue' : 's-red', title: `${o.op}: ${o.count} node(s), ${o.supported ? 'supported' : 'not supported'}`,
    })),
  });
  const bad = s.ops.filter((o) => !o.supported);
  $('support-summary').textContent = s.format === 'tfjs'
    ? 'The analysis runs on ONNX graphs; the layers above are what the model.json declares.'
    : bad.length ? `${bad.length} of ${s.ops.length} op types are not supported: ${bad.map((o) => o.op).join(', ')}.` : `All ${s.ops.length} op types are supported.`;
  table($<HTMLTableElement>('unsupported'), ['unsupported node', 'op', 'domain'], s.unsupported.map((u) => [u.node, u.op, u.domain || 'ai.onnx']));
  $('unsupported').hidden = s.unsupported.length === 0;
  table($<HTMLTableElement>('results'), ['config', 'risk', 'PSNR', 'RMSE', 'defences', 'analysed', ''], results.map((r) => {
    const risk = el('span', `badge risk-${r.risk}`, r.risk);
    const open = el('button', 'secondary small', 'Spectrum');
    open.addEventListener('click', () => host.post({ type: 'openSpectrum', config: r.config }));
    return [r.config, risk, db(r.psnr), num(r.rmse), r.defences.join(' then ') || 'none', `${r.analysedAt}${r.fromCache ? ' (cached)' : ''}`, open];
  }));
  $('results').hidden = results.length === 0;
  $('results-empty').textContent = results.length ? '' : 'No training config in this workspace has been analysed with this model yet.';
  host.setState({ summary: s, results });
}

host.onMessage((m) => {
  if (m.type === 'summary') {
    render(m.summary, m.results);
    status('', 'info');
  } else if (m.type === 'error') status(m.message, 'error');
});

$('open-spectrum').addEventListener('click', () => host.post({ type: 'openSpectrum' }));
const saved = host.getState();
if (saved?.summary) render(saved.summary, saved.results ?? []);
host.post({ type: 'ready' });
