// One defence as the engine reads it ('dpsgd:clip=C,noise=σ', …), tied to the config lines it came from.

import type { ConfigField } from './trainingSetup';

export type DefenceKind = 'gaussian' | 'dpsgd' | 'prune' | 'quantize' | 'topk';

/** One defence in the CLI's `--defence` syntax, with the fields whose lines a diagnostic about it belongs on. */
export interface DefenceSpec {
  kind: DefenceKind;
  /** Exactly the CLI syntax: 'gaussian:std=S', 'dpsgd:clip=C,noise=SIGMA', 'prune:ratio=P', 'quantize:bits=K', 'topk:ratio=P'. */
  spec: string;
  fields: ConfigField<unknown>[];
  /** What the user should know about how the config's numbers became this spec. */
  note?: string;
}

/** Numbers in specs: short and exact enough (12 significant digits), never '1.1000000000000001'. */
export function specNumber(x: number): string {
  return String(Number(x.toPrecision(12)));
}

/** Numbers in messages: 4 significant digits ('std=4.495', not 'std=4.49508944899'). */
export function shownNumber(x: number): string {
  return String(Number(x.toPrecision(4)));
}

/** A spec as people read it in messages: the same syntax, numbers to 4 significant digits. */
export function shownSpec(spec: string): string {
  return spec.replace(/=([-+0-9.eE]+)/g, (_m, n: string) => `=${Number.isFinite(Number(n)) ? shownNumber(Number(n)) : n}`);
}

export function gaussianSpec(std: number): string {
  return `gaussian:std=${specNumber(std)}`;
}
