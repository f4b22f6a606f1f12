// The grid on which the PRV accountant discretises a privacy loss: its extent (safe from the RDP bound) and mesh
// (from the ε error allowed), as Opacus' PRVAccountant chooses them (Gopi et al. 2021, Sec. 5 and Remark 5.6).

import { rdpEpsilon } from './rdpAccountant';

/** An evenly spaced grid t_i = tMin + i·dt, i < size, size even (the FFT composition needs it). */
export interface PrvDomain {
  tMin: number;
  tMax: number;
  size: number;
  /** How far the grid was moved right since it was made aligned (the discretisation's mean correction, composed). */
  shifts: number;
}

export function domainStep(d: PrvDomain): number {
  return (d.tMax - d.tMin) / (d.size - 1);
}

export function shiftDomain(d: PrvDomain, by: number): PrvDomain {
  return { tMin: d.tMin + by, tMax: d.tMax + by, size: d.size, shifts: d.shifts + by };
}

/**
 * [tMin, tMax] ⊇ [lo, hi] on multiples of dt, one point added on the right when that leaves an odd count
 * (Opacus' Domain.create_aligned).
 */
export function alignedDomain(lo: number, hi: number, dt: number): PrvDomain {
  const tMin = Math.floor(lo / dt) * dt;
  let tMax = Math.ceil(hi / dt) * dt;
  let size = Math.round((tMax - tMin) / dt) + 1;
  if (size % 2 === 1) {
    size += 1;
    tMax += dt;
  }
  const d = { tMin, tMax, size, shifts: 0 };
  if (Math.abs(domainStep(d) - dt) / dt >= 1e-8) throw new RangeError(`the PRV grid of step ${dt} over [${lo}, ${hi}] is not aligned`);
  return d;
}

/**
 * Half-width L of the domain, [−L, L]: the larger of the RDP ε of the whole run at δ_err/4 and of one step at
 * δ_err/(8T), at least ε_err, plus 3 (Opacus' compute_safe_domain_size, adapted like the authors' code from
 * Remark 5.6: the mass of each PRV beyond it is below what δ_err allows).
 */
export function safeDomainHalfWidth(sampleRate: number, noiseMultiplier: number, steps: number, epsError: number, deltaError: number): number {
  const whole = rdpEpsilon({ sampleRate, noiseMultiplier, steps }, deltaError / 4).epsilon;
  const one = rdpEpsilon({ sampleRate, noiseMultiplier, steps: 1 }, deltaError / (8 * steps)).epsilon;
  return Math.max(whole, one, epsError) + 3;
}

/** The mesh: ε_err / √(T·log(12/δ_err)/2) (Opacus' PRVAccountant._get_domain; Gopi et al. Theorem 5.5). */
export function meshSize(steps: number, epsError: number, deltaError: number): number {
  return epsError / Math.sqrt((steps * Math.log(12 / deltaError)) / 2);
}
