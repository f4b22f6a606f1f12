// The weights, inputs and directions the catalogue references use, computed here exactly as
// tools/fixtures/catalogue_reference.py computes them (a 32-bit integer hash of the tensor's name, exact float64
// arithmetic, one rounding to float32), so the references need not ship weights.

import type { Model } from '../../../server/src/graph/ir';
import { sizeOf } from '../../../server/src/graph/ir';

function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(text, 'utf8')) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h >>> 0;
}

function mix32(x: number): number {
  x = (x ^ (x >>> 16)) >>> 0;
  x = Math.imul(x, 0x85ebca6b) >>> 0;
  x = (x ^ (x >>> 13)) >>> 0;
  x = Math.imul(x, 0xc2b2ae35) >>> 0;
  return (x ^ (x >>> 16)) >>> 0;
}

export type Role = 'weight' | 'bias' | 'scale' | 'running_mean' | 'running_var' | 'input' | 'direction';

export function hashed(name: string, n: number, role: Role, fanIn = 1): Float32Array {
  const h = fnv1a(name);
  const out = new Float32Array(n);
  const bound = 1.7320508075688772 / Math.sqrt(fanIn);
  for (let i = 0; i < n; i++) {
    const u = (mix32((h + Math.imul(i, 0x9e3779b9)) >>> 0) >>> 8) / 16777216;
    let v: number;
    switch (role) {
      case 'weight': v = (2 * u - 1) * bound; break;
      case 'bias': v = (2 * u - 1) * 0.1; break;
      case 'scale': v = 1 + (2 * u - 1) * 0.25; break;
      case 'running_mean': v = (2 * u - 1) * 0.1; break;
      case 'running_var': v = 0.75 + 0.5 * u; break;
      case 'input': v = u; break;
      case 'direction': v = 2 * u - 1; break;
    }
    out[i] = v;
  }
  return out;
}

/** The generator's `role`: by the name's last part and the tensor's rank. */
export function roleOf(name: string, dims: number[]): { role: Role; fanIn: number } {
  const last = name.split('.').pop()!;
  if (last === 'running_mean' || last === 'running_var') return { role: last, fanIn: 1 };
  if (dims.length >= 2) return { role: 'weight', fanIn: sizeOf(dims.slice(1)) };
  return { role: last === 'weight' ? 'scale' : 'bias', fanIn: 1 };
}

/** Overwrites every named float initialiser (parameters and BatchNorm statistics; not the exporter's constants). */
export function applyHashedWeights(model: Model): void {
  for (const [name, t] of model.graph.initializers) {
    if (t.dtype !== 'float32' || name.startsWith('onnx::')) continue;
    const { role, fanIn } = roleOf(name, t.dims);
    t.data = hashed(name, sizeOf(t.dims), role, fanIn);
  }
}
