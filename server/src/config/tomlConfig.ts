// TOML configs (Flower's pyproject.toml [tool.flwr.app.config]) → the flat key tree with source ranges.
// smol-toml validates and converts values but reports no positions, so a small scanner, run only on text
// smol-toml accepted, finds where each key and value sits.

import { parse, TomlDate, TomlError } from 'smol-toml';
import {
  LineIndex,
  PARSE_LIMITS,
  pointRange,
  syntaxError,
  type ConfigEntry,
  type ParseOutcome,
  type ScalarValue,
} from './keyTree';

export function parseTomlConfig(file: string, text: string): ParseOutcome {
  const lines = new LineIndex(text);
  if (text.length > PARSE_LIMITS.maxTextLength) {
    return syntaxError(file, 'toml', `File too large to be a training config (${text.length} characters).`, pointRange(0, 0), 'config-too-large');
  }
  let data: Record<string, unknown>;
  try {
    data = parse(text, { maxDepth: PARSE_LIMITS.maxDepth }) as Record<string, unknown>;
  } catch (e) {
    if (e instanceof TomlError) {
      // smol-toml counts lines and columns from 1.
      const line = Math.max(0, e.line - 1);
      const character = Math.max(0, e.column - 1);
      return syntaxError(file, 'toml', `TOML: ${e.message.split('\n')[0]}`, pointRange(line, character));
    }
    return syntaxError(file, 'toml', `TOML could not be read: ${(e as Error).message}`, pointRange(0, 0));
  }
  const entries: ConfigEntry[] = [];
  try {
    for (const leaf of scanTomlLeaves(text)) {
      if (entries.length >= PARSE_LIMITS.maxEntries) break;
      const value = valueAt(data, leaf.path);
      if (value === undefined) continue; // the scanner and the parser disagree: keep only what both see
      entries.push({
        path: leaf.path,
        value,
        keyRange: lines.range(leaf.keyStart, leaf.keyEnd),
        valueRange: lines.range(leaf.valueStart, leaf.valueEnd),
      });
    }
  } catch {
    // A scanner bug must not cost the user their diagnostics: keep the leaves found so far.
  }
  return { kind: 'tree', tree: { file, format: 'toml', entries } };
}

function valueAt(data: unknown, path: string[]): ScalarValue | undefined {
  let node: unknown = data;
  for (const seg of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string, unknown>)[seg];
  }
  if (node instanceof TomlDate) return node.toISOString();
  if (typeof node === 'string' || typeof node === 'number' || typeof node === 'boolean') return node;
  if (typeof node === 'bigint') return Number(node);
  return undefined;
}

export interface TomlLeaf {
  path: string[];
  keyStart: number;
  keyEnd: number;
  valueStart: number;
  valueEnd: number;
}

const BARE_KEY = /[A-Za-z0-9_-]/;

/** Offsets of every scalar leaf of a TOML document that smol-toml already accepted. */
export function scanTomlLeaves(text: string): TomlLeaf[] {
  const out: TomlLeaf[] = [];
  const arrayTables = new Map<string, number>();
  let prefix: string[] = [];
  let i = 0;

  const skipSpaces = (): void => {
    while (i < text.length && (text[i] === ' ' || text[i] === '\t')) i++;
  };
  const skipComment = (): void => {
    if (text[i] === '#') while (i < text.length && text[i] !== '\n') i++;
  };
  /** Whitespace, newlines and comments: what may separate items in arrays and (TOML 1.1) inline tables. */
  const skipBlank = (): void => {
    for (;;) {
      const before = i;
      while (i < text.length && /\s/.test(text[i])) i++;
      skipComment();
      if (i === before) return;
    }
  };

  const readBasicString = (): string => {
    let s = '';
    i++; // opening quote
    while (i < text.length && text[i] !== '"' && text[i] !== '\n') {
      if (text[i] === '\\') {
        s += text.slice(i, i + 2);
        i += 2;
      } else s += text[i++];
    }
    i++; // closing quote
    // Keys with escapes are rare in configs; JSON's escape rules cover TOML's common ones.
    try {
      return JSON.parse(`"${s}"`) as string;
    } catch {
      return s;
    }
  };
  const readLiteralString = (): string => {
    const start = ++i;
    while (i < text.length && text[i] !== "'" && text[i] !== '\n') i++;
    return text.slice(start, i++);
  };

  /** A dotted key; returns its parts and the range of its last part (where a diagnostic on the key belongs). */
  const readKey = (): { parts: string[]; start: number; end: number } => {
    const parts: string[] = [];
    let start = i;
    let end = i;
    for (;;) {
      skipSpaces();
      start = i;
      if (text[i] === '"') parts.push(readBasicString());
      else if (text[i] === "'") parts.push(readLiteralString());
      else {
        while (i < text.length && BARE_KEY.test(text[i])) i++;
        if (i === start) throw new Error(`unexpected character at ${i}`);
        parts.push(text.slice(start, i));
      }
      end = i;
      skipSpaces();
      if (text[i] !== '.') return { parts, start, end };
      i++;
    }
  };

  /** Parent segments pick the latest table of an array of tables, as TOML's `[a.b]` after `[[a]]` does. */
  const expand = (parts: string[]): string[] => {
    const path: string[] = [];
    for (const part of parts) {
      path.push(part);
      const n = arrayTables.get(path.join('\u0000'));
      if (n !== undefined) path.push(String(n - 1));
    }
    return path;
  };

  const readValue = (path: string[], keyStart: number, keyEnd: number, depth: number): void => {
    if (depth > PARSE_LIMITS.maxDepth) throw new Error('too deep');
    const start = i;
    const leaf = (): void => {
      out.push({ path, keyStart, keyEnd, valueStart: start, valueEnd: i });
    };
    const multi = (quote: string): void => {
      i += 3;
      for (;;) {
        if (i >= text.length) break;
        if (quote === '"' && text[i] === '\\') {
          i += 2;
          continue;
        }
        if (text.startsWith(quote.repeat(3), i)) {
          i += 3;
          // Up to two more quotes may belong to the content (`""""a""""` ends with `a""`).
          let extra = 0;
          while (extra < 2 && text[i] === quote) {
            i++;
            extra++;
          }
          break;
        }
        i++;
      }
      leaf();
    };
    const c = text[i];
    if (text.startsWith('"""', i)) return multi('"');
    if (text.startsWith("'''", i)) return multi("'");
    if (c === '"') {
      readBasicString();
      return leaf();
    }
    if (c === "'") {
      readLiteralString();
      return leaf();
    }
    if (c === '[') {
      i++;
      for (let index = 0; ; index++) {
        skipBlank();
        if (i >= text.length || text[i] === ']') break;
        const itemStart = i;
        const before = out.length;
        readValue([...path, String(index)], itemStart, itemStart, depth + 1);
        // A scalar item has no key: the item's own range stands in for it.
        for (let k = before; k < out.length; k++) {
          if (out[k].keyStart === itemStart && out[k].keyEnd === itemStart) out[k].keyEnd = out[k].valueEnd;
        }
        skipBlank();
        if (text[i] === ',') i++;
      }
      i++;
      return;
    }
    if (c === '{') {
      i++;
      for (;;) {
        skipBlank();
        if (i >= text.length || text[i] === '}') break;
        const key = readKey();
        skipSpaces();
        i++; // '='
        skipSpaces();
        readValue([...path, ...key.parts], key.start, key.end, depth + 1);
        skipBlank();
        if (text[i] === ',') i++;
      }
      i++;
      return;
    }
    // Numbers, booleans, dates: everything up to a separator; a date may contain one space.
    while (i < text.length && !/[,\]}#\r\n]/.test(text[i])) i++;
    while (i > start && /[ \t]/.test(text[i - 1])) i--;
    leaf();
  };

  while (i < text.length) {
    skipBlank();
    if (i >= text.length) break;
    if (text[i] === '[') {
      const isArray = text[i + 1] === '[';
      i += isArray ? 2 : 1;
      const { parts } = readKey();
      if (isArray) {
        const parent = expand(parts.slice(0, -1));
        const full = [...parent, parts[parts.length - 1]];
        const id = full.join('\u0000');
        const n = (arrayTables.get(id) ?? 0) + 1;
        arrayTables.set(id, n);
        prefix = [...full, String(n - 1)];
      } else prefix = expand(parts);
      while (i < text.length && text[i] !== '\n') i++;
      continue;
    }
    const key = readKey();
    skipSpaces();
    if (text[i] !== '=') throw new Error(`expected '=' at ${i}`);
    i++;
    skipSpaces();
    readValue([...prefix, ...key.parts], key.start, key.end, 0);
    skipSpaces();
    skipComment();
  }
  return out;
}
