// The extension's check of webview page messages (client/src/webview/pageMessages.ts): what the real pages send is
// passed on unchanged; anything else (any JSON value, or a real message with one field made hostile) is either
// dropped with a reason or passed on only within the documented ranges and with no field the page made up.

import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { checkReportPageMessage, checkSpectrumPageMessage, checkSpectrumPageState, LIMITS } from '../../../client/src/webview/pageMessages';
import { seeded } from '../../support/property';

/** Messages as media/src/spectrum/main.ts and media/src/report/main.ts build them. */
const SPECTRUM_VALID: Record<string, unknown>[] = [
  { type: 'ready' }, { type: 'refresh' }, { type: 'runAttack' }, { type: 'cancelAttack' },
  { type: 'setSample', sample: 0 }, { type: 'setSample', sample: 7 }, { type: 'setK', k: 1 }, { type: 'setK', k: 64 },
  { type: 'setDamping', damping: 0 }, { type: 'setDamping', damping: 1e-3 }, { type: 'setNoise', std: 0 }, { type: 'setNoise', std: 0.05 },
  { type: 'copy', what: 'spectrum CSV', text: 'kind,index,value\nlambda,0,1.5\n' },
  { type: 'save', format: 'svg', name: 'i2f-spectrum.svg', data: '<svg xmlns="http://www.w3.org/2000/svg"></svg>' },
  { type: 'save', format: 'svg', name: 'i2f-spectrum.svg', data: '<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"></svg>' },
  { type: 'save', format: 'png', name: 'i2f-noise.png', data: 'data:image/png;base64,iVBORw0KGgo=' },
  { type: 'save', format: 'csv', name: 'i2f-samples.csv', data: 'a,b\n1,2\n' },
];

/** What an accepted spectrum message may hold, stated independently of the checker. */
function withinBounds(m: Record<string, unknown>): void {
  const fields: Record<string, string[]> = {
    ready: [], refresh: [], runAttack: [], cancelAttack: [], setSample: ['sample'], setK: ['k'], setDamping: ['damping'],
    setNoise: ['std'], copy: ['text', 'what'], save: ['format', 'name', 'data'],
  };
  assert.ok(Object.hasOwn(fields, m.type as string), `type ${String(m.type)}`);
  assert.deepEqual(Object.keys(m).sort(), ['type', ...fields[m.type as string]].sort(), 'no field beyond the known ones');
  const finiteNonNegative = (x: unknown) => typeof x === 'number' && Number.isFinite(x) && x >= 0;
  if (m.type === 'setSample') assert.ok(Number.isInteger(m.sample) && (m.sample as number) >= 0 && (m.sample as number) <= LIMITS.maxSample);
  if (m.type === 'setK') assert.ok(Number.isInteger(m.k) && (m.k as number) >= 1 && (m.k as number) <= 64);
  if (m.type === 'setDamping') assert.ok(finiteNonNegative(m.damping));
  if (m.type === 'setNoise') assert.ok(finiteNonNegative(m.std));
  if (m.type === 'copy') assert.ok(typeof m.text === 'string' && typeof m.what === 'string');
  if (m.type === 'save') {
    assert.ok(['svg', 'png', 'csv'].includes(m.format as string));
    const name = m.name as string;
    assert.ok(typeof name === 'string' && !name.includes('/') && !name.includes('\\') && !name.startsWith('.') && name.endsWith(`.${String(m.format)}`), `name ${name}`);
    assert.equal(typeof m.data, 'string');
  }
}

test('every message the real spectrum page sends is passed on unchanged', () => {
  for (const m of SPECTRUM_VALID) assert.deepEqual(checkSpectrumPageMessage(m), { ok: true, message: m }, JSON.stringify(m));
});

test('malformed spectrum page messages are dropped with a reason, never passed on', () => {
  const bad: unknown[] = [
    null, undefined, 0, 'ready', [], [{ type: 'ready' }], {}, { type: 'Ready' }, { type: 'eval', code: '1' }, { type: '__proto__' }, { type: 'constructor' },
    { type: 'setSample' }, { type: 'setSample', sample: -1 }, { type: 'setSample', sample: 1.5 }, { type: 'setSample', sample: '3' }, { type: 'setSample', sample: 1e9 },
    { type: 'setK', k: 0 }, { type: 'setK', k: 65 }, { type: 'setK', k: NaN }, { type: 'setDamping', damping: -1 }, { type: 'setDamping', damping: Infinity },
    { type: 'setNoise', std: NaN }, { type: 'setNoise', std: -0.1 }, { type: 'setNoise', std: '0.1' }, { type: 'setNoise', std: null },
    { type: 'copy', text: 5, what: 'x' }, { type: 'copy', text: 'x' }, { type: 'copy', text: 'x', what: 'y'.repeat(81) },
    { type: 'save', format: 'exe', name: 'a.exe', data: '' }, { type: 'save', format: 'svg', name: '../../.bashrc', data: '<svg></svg>' },
    { type: 'save', format: 'svg', name: '/etc/passwd.svg', data: '<svg></svg>' }, { type: 'save', format: 'csv', name: 'a.svg', data: '' },
    { type: 'save', format: 'png', name: 'a.png', data: 'data:text/html;base64,PHNjcmlwdD4=' }, { type: 'save', format: 'svg', name: 'a.svg', data: '<html><script>' },
    { type: 'save', format: 'csv', name: '.hidden.csv', data: '' }, { type: 'save', format: 'csv', name: 'a.csv', data: 7 },
  ];
  for (const m of bad) {
    const r = checkSpectrumPageMessage(m);
    assert.equal(r.ok, false, `${JSON.stringify(m)} was accepted`);
    if (!r.ok) assert.ok(r.reason.length > 0);
  }
});

test('any value, or a real message with one field made hostile: dropped, or passed on within bounds with only known fields', () => {
  const hostile = fc.oneof(fc.anything(), fc.constantFrom(-1, -0, 0.5, 1e308, NaN, Infinity, '', '../x', 'a'.repeat(300), null, [], {}, true));
  const mutated = fc.tuple(fc.constantFrom(...SPECTRUM_VALID), fc.constantFrom('type', 'sample', 'k', 'damping', 'std', 'text', 'what', 'format', 'name', 'data', 'extra', '__proto__'), hostile)
    .map(([m, key, value]) => {
      const copy: Record<string, unknown> = { ...m };
      Object.defineProperty(copy, key, { value, enumerable: true, writable: true, configurable: true });
      return copy;
    });
  fc.assert(
    fc.property(fc.oneof(fc.anything(), mutated), (m) => {
      const r = checkSpectrumPageMessage(m);
      if (r.ok) withinBounds(r.message as unknown as Record<string, unknown>);
      else assert.ok(r.reason.length > 0);
    }),
    seeded({ seed: 9, numRuns: 3000 }),
  );
});

test('the report page may open the spectrum only for a config it was shown', () => {
  const shown = new Set(['/w/opacus/train.yaml']);
  assert.deepEqual(checkReportPageMessage({ type: 'openSpectrum', config: '/w/opacus/train.yaml' }, shown), { ok: true, message: { type: 'openSpectrum', config: '/w/opacus/train.yaml' } });
  assert.deepEqual(checkReportPageMessage({ type: 'openSpectrum' }, shown), { ok: true, message: { type: 'openSpectrum' } });
  assert.deepEqual(checkReportPageMessage({ type: 'ready', extra: 1 }, shown), { ok: true, message: { type: 'ready' } });
  for (const m of [{ type: 'openSpectrum', config: '/etc/passwd' }, { type: 'openSpectrum', config: 5 }, { type: 'openSpectrum', config: null }, { type: 'save' }, null, 'ready']) {
    assert.equal(checkReportPageMessage(m, shown).ok, false, JSON.stringify(m));
  }
  fc.assert(
    fc.property(fc.anything(), (m) => {
      const r = checkReportPageMessage(m, shown);
      if (!r.ok) return;
      assert.ok(['ready', 'refresh', 'openSpectrum'].includes(r.message.type));
      if (r.message.type === 'openSpectrum' && r.message.config !== undefined) assert.ok(shown.has(r.message.config));
    }),
    seeded({ seed: 9, numRuns: 1000 }),
  );
});

test('a saved page state restores only well-formed parameters, never a command: URI', () => {
  assert.deepEqual(checkSpectrumPageState({ config: 'file:///w/train.yaml', std: 0.1, data: { settings: { sample: 2, k: 8, damping: 0 } } }), {
    uri: 'file:///w/train.yaml', sample: 2, k: 8, damping: 0, std: 0.1,
  });
  assert.deepEqual(checkSpectrumPageState({ config: 'command:workbench.action.terminal.sendSequence', std: -1, data: { settings: { sample: -2, k: 1e6, damping: NaN } } }), { uri: '' });
  for (const s of [undefined, null, 'x', [], { config: 5 }, { data: null }, { data: { settings: 'x' } }]) assert.deepEqual(checkSpectrumPageState(s), { uri: '' });
  fc.assert(
    fc.property(fc.anything(), (s) => {
      const r = checkSpectrumPageState(s);
      assert.equal(typeof r.uri, 'string');
      assert.ok(!/^command:/i.test(r.uri));
      if (r.sample !== undefined) assert.ok(Number.isInteger(r.sample) && r.sample >= 0);
      if (r.k !== undefined) assert.ok(Number.isInteger(r.k) && r.k >= 1 && r.k <= 64);
      for (const x of [r.damping, r.std]) if (x !== undefined) assert.ok(Number.isFinite(x) && x >= 0);
    }),
    seeded({ seed: 9, numRuns: 1000 }),
  );
});
