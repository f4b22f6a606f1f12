// YAML configs (Hydra, Opacus-style scripts, FedML, TF Privacy flags) → the flat key tree with source ranges.

import { isAlias, isMap, isPair, isScalar, isSeq, parseAllDocuments, type Document, type Node as YamlNode } from 'yaml';
import {
  LineIndex,
  PARSE_LIMITS,
  pointRange,
  resolveInterpolations,
  syntaxError,
  type ConfigEntry,
  type ParseOutcome,
  type Range,
  type ScalarValue,
} from './keyTree';

/** Thrown inside the walk only, turned into a located syntax error before anything leaves this file. */
class ExpansionLimit extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

export function parseYamlConfig(file: string, text: string): ParseOutcome {
  const lines = new LineIndex(text);
  if (text.length > PARSE_LIMITS.maxTextLength) {
    return syntaxError(file, 'yaml', `File too large to be a training config (${text.length} characters).`, pointRange(0, 0), 'config-too-large');
  }
  try {
    // `merge: true` so Hydra/compose-style `<<: *base` keys are understood; `uniqueKeys: false` because a
    // duplicate key is the user's business, not a reason to hide every other diagnostic in the file.
    // The library's own maxAliasCount only guards toJS(); our walk counts aliases itself (walkDocument).
    const docs = parseAllDocuments(text, { merge: true, uniqueKeys: false });
    const list = Array.isArray(docs) ? docs : [];
    for (const doc of list) {
      const first = doc.errors[0];
      if (first) {
        const [start, end] = first.pos;
        // The library appends "at line L, column C:" and a code excerpt; the range already says where.
        const message = first.message.split('\n')[0].replace(/ at line \d+, column \d+:?\s*$/, '');
        return syntaxError(file, 'yaml', `YAML: ${message}`, lines.range(start, end));
      }
    }
    const entries: ConfigEntry[] = [];
    for (const doc of list) walkDocument(doc, lines, entries);
    resolveInterpolations(entries);
    return { kind: 'tree', tree: { file, format: 'yaml', entries } };
  } catch (e) {
    if (e instanceof ExpansionLimit) return syntaxError(file, 'yaml', e.message, lines.range(e.offset, e.offset + 1), 'config-too-large');
    // The parser is recursive: pathological nesting can overflow the stack. Report it, never throw it.
    return syntaxError(file, 'yaml', `YAML could not be read: ${(e as Error).message}`, pointRange(0, 0));
  }
}

function walkDocument(doc: Document.Parsed, lines: LineIndex, out: ConfigEntry[]): void {
  let aliasesFollowed = 0;

  const rangeOf = (node: YamlNode | null | undefined, fallback: Range): Range =>
    node?.range ? lines.range(node.range[0], node.range[1]) : fallback;

  const push = (entry: ConfigEntry, offset: number): void => {
    if (out.length >= PARSE_LIMITS.maxEntries) {
      throw new ExpansionLimit(
        `YAML expands to more than ${PARSE_LIMITS.maxEntries} values (aliases or merges repeat it): not read as a training config.`,
        offset,
      );
    }
    out.push(entry);
  };

  const follow = (node: unknown): unknown => {
    let n = node;
    while (isAlias(n)) {
      if (++aliasesFollowed > PARSE_LIMITS.maxAliasCount) {
        throw new ExpansionLimit(`YAML uses more than ${PARSE_LIMITS.maxAliasCount} aliases: not expanded further.`, n.range?.[0] ?? 0);
      }
      n = n.resolve(doc);
    }
    return n;
  };

  /** `keyRange` is where this node's key sits; sequence items have no key, so their own range stands in. */
  const walk = (raw: unknown, path: string[], keyRange: Range | undefined, depth: number, seen: Set<string>): void => {
    const node = follow(raw) as YamlNode | null | undefined;
    const offset = (node as YamlNode | null)?.range?.[0] ?? 0;
    if (depth > PARSE_LIMITS.maxDepth) throw new ExpansionLimit(`YAML nested deeper than ${PARSE_LIMITS.maxDepth} levels.`, offset);
    if (isMap(node)) {
      // Explicit keys of this map beat keys merged in with `<<`, whatever their order (YAML merge semantics).
      const explicit = new Set<string>();
      const merges: unknown[] = [];
      for (const pair of node.items) {
        if (!isPair(pair)) continue;
        const key = keyText(pair.key);
        if (key === '<<') {
          const source = follow(pair.value);
          if (isSeq(source)) merges.push(...source.items);
          else merges.push(source);
          continue;
        }
        if (seen.has(key)) continue;
        explicit.add(key);
        const kr = rangeOf(pair.key as YamlNode, keyRange ?? pointRange(0, 0));
        walk(pair.value, [...path, key], kr, depth + 1, new Set());
      }
      // A merged map contributes only keys not already written here (or in an earlier merge source).
      const blocked = new Set([...seen, ...explicit]);
      for (const source of merges) {
        const before = out.length;
        walk(source, path, keyRange, depth + 1, blocked);
        for (let i = before; i < out.length; i++) blocked.add(out[i].path[path.length]);
      }
      return;
    }
    if (isSeq(node)) {
      node.items.forEach((item, i) => {
        const target = follow(item) as YamlNode | null;
        const own = rangeOf(target, keyRange ?? pointRange(0, 0));
        walk(item, [...path, String(i)], own, depth + 1, new Set());
      });
      return;
    }
    if (path.length === 0) return; // a document that is one bare scalar has no keys
    const value = isScalar(node) ? scalarValue(node.value) : null;
    const kr = keyRange ?? pointRange(0, 0);
    // `key:` with nothing after it: an empty range right after the key, where a value would be typed.
    const vr = node?.range ? lines.range(node.range[0], node.range[1]) : { start: kr.end, end: kr.end };
    push({ path, value, keyRange: kr, valueRange: vr }, offset);
  };

  walk(doc.contents, [], undefined, 0, new Set());
}

function keyText(key: unknown): string {
  if (isScalar(key)) {
    const v = key.value;
    if (typeof v === 'symbol') return v.description ?? '';
    return String(v);
  }
  return String(key ?? '');
}

function scalarValue(v: unknown): ScalarValue {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
  if (typeof v === 'bigint') return Number(v);
  if (v instanceof Date) return v.toISOString();
  return String(v);
}
