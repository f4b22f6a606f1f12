// The spectrum requests' numbers come from a webview page (through the extension) or from any LSP client: checked
// here before a worker spends minutes on them. k = 10⁹ would ask Lanczos for 10⁹ vectors; a NaN std fails only
// after the whole analysis, in noiseView.

import type { SpectrumDataParams, SpectrumNoiseParams } from '../webviewProtocol';

/** Directions at each end of the spectrum: the page offers 1–64. */
export const MAX_SPECTRUM_K = 64;

const finiteNonNegative = (x: unknown) => typeof x === 'number' && Number.isFinite(x) && x >= 0;

/** Why the parameters cannot be used, or undefined when they can. */
export function spectrumParamsProblem(p: Partial<SpectrumDataParams> | null | undefined): string | undefined {
  if (!p || typeof p !== 'object') return 'the request has no parameters';
  if (typeof p.uri !== 'string' || p.uri === '') return 'the request names no training config (uri)';
  if (p.sample !== undefined && !(Number.isInteger(p.sample) && p.sample >= 0)) return `sample must be a whole number ≥ 0, not ${String(p.sample)}`;
  if (p.k !== undefined && !(Number.isInteger(p.k) && p.k >= 1 && p.k <= MAX_SPECTRUM_K)) return `k must be a whole number from 1 to ${MAX_SPECTRUM_K}, not ${String(p.k)}`;
  if (p.damping !== undefined && !finiteNonNegative(p.damping)) return `damping must be a finite number ≥ 0, not ${String(p.damping)}`;
  if (p.std !== undefined && !finiteNonNegative(p.std)) return `the noise std must be a finite number ≥ 0, not ${String(p.std)}`;
  return undefined;
}

export function noiseParamsProblem(p: Partial<SpectrumNoiseParams> | null | undefined): string | undefined {
  if (!p || typeof p !== 'object' || typeof p.key !== 'string') return 'the request names no spectrum (key)';
  if (!finiteNonNegative(p.std)) return `the noise std must be a finite number ≥ 0, not ${String(p.std)}`;
  return undefined;
}
