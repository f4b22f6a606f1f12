// The privacy–reconstruction frontier of the spectrum page: predicted PSNR and DP ε against the noise multiplier,
// so one slider shows what a noise level costs in ε and what it buys against an inversion attacker.

import type { NoiseResponse } from '../engine/influence';
import { evaluateNoiseScale } from '../engine/influence';
import type { PrivacyFrontierView } from '../webviewProtocol';
import { epsilonAt, type PrivacyAccount } from './privacyAccount';

/** What the spectrum state keeps to redo ε at any std: the account's inputs and how std maps to σ. */
export interface SpectrumPrivacy {
  unit: 'example' | 'user';
  sampleRate: number;
  steps: number;
  delta: number;
  /** Gaussian std on the shared gradient per unit of noise multiplier (configured std / configured σ). */
  stdPerNoiseMultiplier: number;
  configuredNoiseMultiplier: number;
  epsilonThreshold: number;
  targetEpsilon?: number;
  targetPsnr: number;
}

/**
 * The frontier's inputs for a config whose ε is computed and whose noise multiplier sets the analysed Gaussian std
 * (DP-SGD: σC/B; Flower: σC/clients per round): the ratio of the two is the slider's std per unit σ. Undefined when
 * either is zero or missing (no noise, no account): no frontier is drawn rather than a wrong one.
 */
export function spectrumPrivacyOf(
  account: PrivacyAccount | undefined,
  configuredStd: number,
  settings: { epsilonThreshold: number; targetPsnr: number },
): SpectrumPrivacy | undefined {
  const r = account?.report;
  if (!r || r.status !== 'computed' || !(r.noiseMultiplier > 0) || !(configuredStd > 0)) return undefined;
  return {
    unit: r.unit, sampleRate: r.sampleRate, steps: r.steps, delta: r.delta,
    stdPerNoiseMultiplier: configuredStd / r.noiseMultiplier,
    configuredNoiseMultiplier: r.noiseMultiplier,
    epsilonThreshold: settings.epsilonThreshold,
    ...(r.targetEpsilon !== undefined ? { targetEpsilon: r.targetEpsilon } : {}),
    targetPsnr: settings.targetPsnr,
  };
}

const finite = (x: number) => (Number.isFinite(x) ? x : null);

/** ε at a slider std (σ = std / stdPerNoiseMultiplier); ε null for std 0 (no noise: no guarantee). */
export function privacyAtStd(p: SpectrumPrivacy, std: number): { noiseMultiplier: number; epsilon: number | null; order: number } {
  const noiseMultiplier = std / p.stdPerNoiseMultiplier;
  const spent = epsilonAt({ sampleRate: { value: p.sampleRate }, steps: { value: p.steps }, delta: { value: p.delta } }, noiseMultiplier);
  return { noiseMultiplier, epsilon: finite(spent.epsilon), order: spent.order };
}

/**
 * Points log-spaced over the slider's range (4 decades below stdMax, as the page's slider): ε by the RDP accountant,
 * PSNR of the most exposed batch, expected over noise draws (the number the finding grades).
 */
export function privacyFrontier(p: SpectrumPrivacy, responses: NoiseResponse[], stdMax: number, count = 41): PrivacyFrontierView {
  const points: PrivacyFrontierView['points'] = [];
  for (let i = 0; i < count; i++) {
    const std = stdMax * 10 ** (-4 * (1 - i / (count - 1)));
    const psnr = Math.max(...responses.map((r) => evaluateNoiseScale(r, std).expectedPsnr));
    const at = privacyAtStd(p, std);
    points.push({ noiseMultiplier: at.noiseMultiplier, std, epsilon: at.epsilon, psnr: finite(psnr) });
  }
  return {
    unit: p.unit, delta: p.delta, steps: p.steps, sampleRate: p.sampleRate,
    stdPerNoiseMultiplier: p.stdPerNoiseMultiplier, configuredNoiseMultiplier: p.configuredNoiseMultiplier,
    epsilonThreshold: p.epsilonThreshold, ...(p.targetEpsilon !== undefined ? { targetEpsilon: p.targetEpsilon } : {}),
    targetPsnr: p.targetPsnr, points,
  };
}
