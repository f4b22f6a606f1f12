// The format-neutral shape every config parser produces: a flat list of leaf keys with their values and LSP ranges.

import { UserError } from '../errors';

/** 0-based line and UTF-16 character, as LSP counts them. */
export interface Position {
  line: number;
  character: number;
}

export interface Range {
  start: Position;
  end: Position;
}

/** 'python': DP call sites read from Python source (server/src/pysource), not a config file. */
export type ConfigFormat = 'yaml' | 'json' | 'toml' | 'hocon' | 'python';

export type ScalarValue = string | number | boolean | null;

/** A Hydra/OmegaConf `${…}` reference found in a value, and whether we could follow it inside the file. */
export interface Interpolation {
  /** The text as written, e.g. '${privacy.sigma}'. */
  expression: string;
  resolved: boolean;
  /** Why it was not resolved (a resolver like `${oc.env:X}`, a missing key, a cycle). */
  reason?: string;
}

/** One leaf of the config: a scalar reached by a path of keys (sequence items by their index, as a string). */
export interface ConfigEntry {
  /** Keys as written in the file, outermost first; e.g. ['task_result_filters', '0', 'filters', '1', 'args', 'sigma0']. */
  path: string[];
  value: ScalarValue;
  /** The last key's range; for a sequence item, the item's own range. */
  keyRange: Range;
  valueRange: Range;
  interpolation?: Interpolation;
}

export interface ConfigTree {
  file: string;
  format: ConfigFormat;
  entries: ConfigEntry[];
}

/** A file the parser could not read, with where it stopped. The location's line/character start the range. */
export interface ConfigSyntaxError {
  kind: 'syntax-error';
  file: string;
  format: ConfigFormat;
  error: UserError;
  range: Range;
}

export type ParseOutcome = { kind: 'tree'; tree: ConfigTree } | ConfigSyntaxError;

/**
 * Limits that keep a hostile or generated file from hanging the server: the editor thread runs these parsers.
 * An alias bomb (YAML "billion laughs") expands exponentially, so leaves and nesting are both capped.
 */
export const PARSE_LIMITS = {
  /** Largest text we parse at all; training configs are a few kilobytes. */
  maxTextLength: 2_000_000,
  /** Leaves a tree may have after alias and merge expansion. */
  maxEntries: 20_000,
  /** Nesting depth of maps and sequences; beyond it recursion could exhaust the stack. */
  maxDepth: 64,
  /** YAML aliases followed per document. */
  maxAliasCount: 1_000,
} as const;

/** Maps string offsets to LSP positions; built once per text. */
export class LineIndex {
  private readonly starts: number[] = [0];

  constructor(readonly text: string) {
    for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) this.starts.push(i + 1);
  }

  position(offset: number): Position {
    const o = Math.max(0, Math.min(offset, this.text.length));
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid] <= o) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo, character: o - this.starts[lo] };
  }

  range(start: number, end: number): Range {
    return { start: this.position(start), end: this.position(Math.max(start, end)) };
  }

  lineCount(): number {
    return this.starts.length;
  }
}

export function syntaxError(
  file: string,
  format: ConfigFormat,
  message: string,
  range: Range,
  code = 'config-syntax',
): ConfigSyntaxError {
  const error = new UserError(code, message, { file, line: range.start.line, character: range.start.character });
  return { kind: 'syntax-error', file, format, error, range };
}

export function pointRange(line: number, character: number): Range {
  return { start: { line, character }, end: { line, character: character + 1 } };
}

/**
 * One spelling for a key across conventions: `noiseMultiplier`, `noise-multiplier`, `--noise_multiplier`,
 * `NOISE_MULTIPLIER` all become `noise_multiplier`. Digits stay attached (`l2NormClip` → `l2_norm_clip`).
 */
export function normaliseKey(key: string): string {
  return key
    .trim()
    .replace(/^-+/, '')
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1_$2')
    .replace(/[-\s.]+/g, '_')
    .toLowerCase();
}

const WHOLE_REFERENCE = /^\$\{([^${}]*)\}$/;
const ANY_REFERENCE = /\$\{([^${}]*)\}/g;
const NODE_PATH = /^\.*[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+|\[[0-9]+\])*$/;

/**
 * Follows OmegaConf node interpolations inside one file: `${a.b}` (absolute), `${.b}` / `${..b}` (relative to
 * the key's own node), and strings that embed them (`${root}/model.onnx`). Resolvers (`${oc.env:X}`, `${now:}`)
 * and references to keys outside the file stay unresolved, with the reason, so recognise.ts can say so.
 */
export function resolveInterpolations(entries: ConfigEntry[]): void {
  const byPath = new Map<string, ConfigEntry>();
  for (const e of entries) byPath.set(e.path.join('.'), e);

  const resolving = new Set<ConfigEntry>();
  const done = new Set<ConfigEntry>();

  const targetPath = (owner: ConfigEntry, ref: string): string | undefined => {
    const r = ref.trim().replace(/\[([0-9]+)\]/g, '.$1');
    if (!NODE_PATH.test(ref.trim())) return undefined;
    const dots = /^\.*/.exec(r)![0].length;
    const rest = r.slice(dots);
    if (dots === 0) return rest;
    // `.x` is a sibling of the owner: drop the owner's own key, then one more level per extra dot.
    const base = owner.path.slice(0, owner.path.length - dots);
    if (owner.path.length - dots < 0) return undefined;
    return [...base, rest].filter((s) => s !== '').join('.');
  };

  const resolve = (e: ConfigEntry): void => {
    if (done.has(e) || typeof e.value !== 'string' || !e.value.includes('${')) return;
    if (resolving.has(e)) {
      e.interpolation = { expression: String(e.value), resolved: false, reason: 'the reference loops back on itself' };
      return;
    }
    resolving.add(e);
    const expression = e.value;
    const whole = WHOLE_REFERENCE.exec(expression);
    const lookup = (ref: string): { value?: ScalarValue; reason?: string } => {
      if (ref.includes(':')) return { reason: `'${ref}' uses a resolver, which only runs inside the training script` };
      const p = targetPath(e, ref);
      if (p === undefined) return { reason: `'${ref}' is not a simple key path` };
      const target = byPath.get(p);
      if (!target) return { reason: `no key '${p}' in this file` };
      resolve(target);
      if (target.interpolation && !target.interpolation.resolved) return { reason: target.interpolation.reason };
      return { value: target.value };
    };
    if (whole) {
      const r = lookup(whole[1]);
      e.interpolation = r.reason === undefined ? { expression, resolved: true } : { expression, resolved: false, reason: r.reason };
      if (r.reason === undefined) e.value = r.value ?? null;
    } else {
      let reason: string | undefined;
      let references = 0;
      const joined = expression.replace(ANY_REFERENCE, (_m, ref: string) => {
        references++;
        const r = lookup(ref);
        if (r.reason !== undefined) reason ??= r.reason;
        return r.value === undefined || r.value === null ? '' : String(r.value);
      });
      // Nested references (`${a.${b}}`) leave a '${' behind that no simple reference matched.
      if (joined.includes('${')) reason ??= 'nested references are not followed';
      if (references > 0 || reason !== undefined) {
        e.interpolation = reason === undefined ? { expression, resolved: true } : { expression, resolved: false, reason };
        if (reason === undefined) e.value = joined;
      }
    }
    resolving.delete(e);
    done.add(e);
  };

  for (const e of entries) resolve(e);
}
