// Small numeric helpers for the engine tests.

import assert from 'node:assert/strict';

export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0, s = 0;
  for (let i = 0; i < a.length; i++) { d += (a[i] - b[i]) ** 2; s += b[i] ** 2; }
  return Math.sqrt(d / s);
}

export function assertClose(actual: number, expected: number, relTol: number, what = 'value'): void {
  const err = Math.abs(actual - expected) / Math.max(Math.abs(expected), Number.MIN_VALUE);
  assert.ok(err <= relTol, `${what}: ${actual} vs ${expected} (relative error ${err.toExponential(2)} > ${relTol})`);
}

export function l2(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return Math.sqrt(s);
}
