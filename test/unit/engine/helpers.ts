// Small numeric helpers for the engine tests.

import assert from 'node:assert/strict';

export { relativeError } from '../../support/numeric';

export function assertClose(actual: number, expected: number, relTol: number, what = 'value'): void {
  const err = Math.abs(actual - expected) / Math.max(Math.abs(expected), Number.MIN_VALUE);
  assert.ok(err <= relTol, `${what}: ${actual} vs ${expected} (relative error ${err.toExponential(2)} > ${relTol})`);
}

export function l2(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return Math.sqrt(s);
}
