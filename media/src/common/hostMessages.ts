// Host → page messages, checked by shape before a page acts on them: the extension is ours, but a page that draws a
// malformed payload half-way breaks until it is reloaded. Only the fields the pages read first are checked; the
// handler also runs in a try (host.ts), so a deeper malformation is dropped and logged too.

import type { ReportHostMessage, SpectrumHostMessage } from '../../../server/src/webviewProtocol';

type Obj = Record<string, unknown>;
const isObj = (x: unknown): x is Obj => x !== null && typeof x === 'object' && !Array.isArray(x);
const isStr = (x: unknown): x is string => typeof x === 'string';
const isNum = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);
const isArr = Array.isArray;
const has = (o: Obj, arrays: string[], objects: string[], strings: string[] = []) =>
  arrays.every((k) => isArr(o[k])) && objects.every((k) => isObj(o[k])) && strings.every((k) => isStr(o[k]));

const isPrivacyPoint = (p: unknown) => isObj(p) && isNum(p.noiseMultiplier) && (p.epsilon === null || isNum(p.epsilon));
const isNoise = (n: unknown) => isObj(n) && isStr(n.risk) && isNum(n.std) && isArr(n.perSample) && isArr(n.perClass) && (n.privacy === undefined || isPrivacyPoint(n.privacy));
/** The frontier, when present: points the chart can draw (σ and ε per point). */
const isFrontier = (f: unknown) => f === undefined || (isObj(f) && isNum(f.delta) && isNum(f.stdPerNoiseMultiplier) && isArr(f.points) && (f.points as unknown[]).every(isPrivacyPoint));

export function checkSpectrumHostMessage(m: unknown): SpectrumHostMessage | undefined {
  if (!isObj(m)) return undefined;
  const ok = (() => {
    switch (m.type) {
      case 'spectrum': {
        const d = m.data;
        return isObj(d) && has(d, ['defences', 'directions', 'labels'], ['settings', 'spectrum', 'input'], ['key', 'config', 'model']) && isNoise(d.noise) && isFrontier(d.privacy);
      }
      case 'noise':
        return isStr(m.key) && isNoise(m.noise);
      case 'busy':
      case 'done':
        return isStr(m.text);
      case 'error':
        return isStr(m.message);
      case 'attackProgress':
        return isStr(m.stage) && isNum(m.fraction);
      case 'attack': {
        const d = m.data;
        return isObj(d) && has(d, ['sampleDims', 'batches'], [], ['config', 'model', 'method']) && isNum(d.lo) && isNum(d.hi) && (d.image === null || isObj(d.image)) && (d.batches as unknown[]).every(isObj);
      }
      case 'attackStopped':
        return isStr(m.message) && typeof m.cancelled === 'boolean';
      case 'history': {
        const d = m.data;
        return isObj(d) && isStr(d.config) && isArr(d.entries) && (d.entries as unknown[]).every((e) =>
          isObj(e) && isStr(e.checkpoint) && isStr(e.risk) && isStr(e.analysedAt) && (e.psnr === null || isNum(e.psnr)) && (e.lowerBoundPsnr === null || isNum(e.lowerBoundPsnr)) && (e.step === undefined || isNum(e.step)));
      }
      default:
        return false;
    }
  })();
  return ok ? (m as SpectrumHostMessage) : undefined;
}

export function checkReportHostMessage(m: unknown): ReportHostMessage | undefined {
  if (!isObj(m)) return undefined;
  if (m.type === 'error') return isStr(m.message) ? (m as ReportHostMessage) : undefined;
  if (m.type !== 'summary') return undefined;
  const s = m.summary;
  const ok = isObj(s) && has(s, ['inputs', 'outputs', 'theta', 'ops', 'unsupported', 'notes'], [], ['file', 'format']) && isNum(s.bytes) && isArr(m.results) && m.results.every((r) => isObj(r) && isStr(r.config));
  return ok ? (m as ReportHostMessage) : undefined;
}
