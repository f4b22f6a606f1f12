// The webview pages' messages and saved state are untrusted input: a page runs scripts, and a compromised or buggy
// one must not drive the extension with odd values (a negative sample, NaN noise, a save path outside the
// workspace, a spectrum for a config the page was never shown). Each message is checked against its shape, types
// and ranges and copied field by field (unknown fields are not passed on); anything else is dropped and logged.
// No vscode import: unit-tested directly (test/unit/webview/pageMessages.test.ts).

import type { ReportPageMessage, SpectrumPageMessage, SpectrumPageState } from '../../../server/src/webviewProtocol';

export type Checked<T> = { ok: true; message: T } | { ok: false; reason: string };

/** The page's own bounds (media/src/spectrum/main.ts), re-checked here. */
export const LIMITS = {
  maxSample: 1_000_000,
  maxK: 64,
  /** A CSV of the spectrum and per-sample table: far below this. */
  maxTextChars: 16 * 2 ** 20,
  /** A PNG of a chart as a data: URL, or an SVG. */
  maxSaveChars: 64 * 2 ** 20,
  maxUriChars: 4096,
} as const;

const SAVE_FORMATS = new Set(['svg', 'png', 'csv']);
/** A bare file name (no folder, no '..'): the page proposes it, the user picks the folder in the save dialog. */
const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const PNG_DATA_URL = /^data:image\/png;base64,[A-Za-z0-9+/]*={0,2}$/;

const fail = <T>(reason: string): Checked<T> => ({ ok: false, reason });
const ok = <T>(message: T): Checked<T> => ({ ok: true, message });

function record(m: unknown): Record<string, unknown> | undefined {
  return m !== null && typeof m === 'object' && !Array.isArray(m) ? (m as Record<string, unknown>) : undefined;
}

const isNonNegative = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x) && x >= 0;
const isIntIn = (x: unknown, lo: number, hi: number): x is number => typeof x === 'number' && Number.isInteger(x) && x >= lo && x <= hi;
const isText = (x: unknown, max: number): x is string => typeof x === 'string' && x.length <= max;

function describe(x: unknown): string {
  const s = typeof x === 'string' ? JSON.stringify(x.length > 40 ? `${x.slice(0, 40)}…` : x) : typeof x === 'number' ? String(x) : typeof x;
  return s;
}

/** Spectrum page → extension. */
export function checkSpectrumPageMessage(raw: unknown): Checked<SpectrumPageMessage> {
  const m = record(raw);
  if (!m) return fail(`not an object (${describe(raw)})`);
  switch (m.type) {
    case 'ready':
    case 'refresh':
    case 'runAttack':
    case 'cancelAttack':
      return ok({ type: m.type });
    case 'setSample':
      return isIntIn(m.sample, 0, LIMITS.maxSample) ? ok({ type: 'setSample', sample: m.sample }) : fail(`setSample: sample must be a whole number from 0 to ${LIMITS.maxSample}, not ${describe(m.sample)}`);
    case 'setK':
      return isIntIn(m.k, 1, LIMITS.maxK) ? ok({ type: 'setK', k: m.k }) : fail(`setK: k must be a whole number from 1 to ${LIMITS.maxK}, not ${describe(m.k)}`);
    case 'setDamping':
      return isNonNegative(m.damping) ? ok({ type: 'setDamping', damping: m.damping }) : fail(`setDamping: damping must be a finite number ≥ 0, not ${describe(m.damping)}`);
    case 'setNoise':
      return isNonNegative(m.std) ? ok({ type: 'setNoise', std: m.std }) : fail(`setNoise: std must be a finite number ≥ 0, not ${describe(m.std)}`);
    case 'copy':
      if (!isText(m.text, LIMITS.maxTextChars)) return fail(`copy: text must be a string of at most ${LIMITS.maxTextChars} characters, not ${describe(m.text)}`);
      if (!isText(m.what, 80)) return fail(`copy: what must be a short string, not ${describe(m.what)}`);
      return ok({ type: 'copy', text: m.text, what: m.what });
    case 'save': {
      const { format, name, data } = m;
      if (typeof format !== 'string' || !SAVE_FORMATS.has(format)) return fail(`save: format must be svg, png or csv, not ${describe(format)}`);
      if (typeof name !== 'string' || !FILE_NAME.test(name) || !name.toLowerCase().endsWith(`.${format}`)) return fail(`save: name must be a bare file name ending in .${format}, not ${describe(name)}`);
      if (!isText(data, LIMITS.maxSaveChars)) return fail(`save: data must be a string of at most ${LIMITS.maxSaveChars} characters`);
      if (format === 'png' && !PNG_DATA_URL.test(data)) return fail('save: png data must be a data:image/png;base64 URL');
      if (format === 'svg' && !/^\s*(<\?xml[^>]*\?>\s*)?<svg[\s>]/.test(data)) return fail('save: svg data must be an SVG document');
      return ok({ type: 'save', format: format as 'svg' | 'png' | 'csv', name, data });
    }
    default:
      return fail(`unknown message type ${describe(m.type)}`);
  }
}

/**
 * Model report page → extension. `configs`: the configs the page was shown (its results table); a config it asks
 * the spectrum for must be one of them.
 */
export function checkReportPageMessage(raw: unknown, configs: ReadonlySet<string>): Checked<ReportPageMessage> {
  const m = record(raw);
  if (!m) return fail(`not an object (${describe(raw)})`);
  switch (m.type) {
    case 'ready':
    case 'refresh':
      return ok({ type: m.type });
    case 'openSpectrum':
      if (m.config === undefined) return ok({ type: 'openSpectrum' });
      if (typeof m.config !== 'string' || !configs.has(m.config)) return fail(`openSpectrum: config ${describe(m.config)} is not one the page was shown`);
      return ok({ type: 'openSpectrum', config: m.config });
    default:
      return fail(`unknown message type ${describe(m.type)}`);
  }
}

/** What the panel restores after a reload, from the page's getState: only well-formed parameters survive. */
export interface RestoredSpectrum {
  uri: string;
  sample?: number;
  k?: number;
  damping?: number;
  std?: number;
}

export function checkSpectrumPageState(raw: unknown): RestoredSpectrum {
  const s = record(raw) as (Partial<Record<keyof SpectrumPageState, unknown>> | undefined);
  const settings = record(record(s?.data)?.settings);
  const uri = s?.config;
  return {
    // A config URI as the extension gave it (file:, vscode-remote:, …), never a command: link.
    uri: typeof uri === 'string' && uri.length <= LIMITS.maxUriChars && /^(?!command:)[a-z][a-z0-9+.-]*:/i.test(uri) ? uri : '',
    ...(isIntIn(settings?.sample, 0, LIMITS.maxSample) ? { sample: settings.sample as number } : {}),
    ...(isIntIn(settings?.k, 1, LIMITS.maxK) ? { k: settings.k as number } : {}),
    ...(isNonNegative(settings?.damping) ? { damping: settings.damping as number } : {}),
    ...(isNonNegative(s?.std) ? { std: s.std as number } : {}),
  };
}
