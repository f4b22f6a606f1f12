// HOCON configs (NVFLARE's job templates: config_fed_client.conf) → the flat key tree with source ranges.
// The npm registry's HOCON parsers (hocon-parser, @pushcorn/hocon-parser) return plain objects without positions,
// and the second fetches `include`d URLs; this reader covers what job configs use, with a range for every value:
// optional root braces, `#` and `//` comments, `key = v`, `key: v`, `key { … }`, dotted keys (`a.b = 1`),
// quoted and unquoted keys and strings, triple-quoted strings, arrays, commas or newlines between fields, `+=`,
// value concatenation on one line, and `${path}` / `${?path}` substitutions (left to resolveInterpolations, with
// the environment as HOCON's fallback said in the reason). `include` lines are skipped: nothing is fetched.

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
import { resolveFileVariables } from './placeholders';

class HoconError extends Error {
  constructor(
    message: string,
    readonly offset: number,
    readonly tooLarge = false,
  ) {
    super(message);
  }
}

/** Characters that end an unquoted string or key (HOCON spec, "Unquoted strings"), plus whitespace. */
const FORBIDDEN = new Set([...'$"{}[]:=,+#`^?!@*&\\']);

export function parseHoconConfig(file: string, text: string): ParseOutcome {
  const lines = new LineIndex(text);
  if (text.length > PARSE_LIMITS.maxTextLength) {
    return syntaxError(file, 'hocon', `File too large to be a training config (${text.length} characters).`, pointRange(0, 0), 'config-too-large');
  }
  try {
    const entries = new HoconReader(text, lines).document();
    resolveInterpolations(entries);
    resolveFileVariables(entries);
    return { kind: 'tree', tree: { file, format: 'hocon', entries } };
  } catch (e) {
    if (e instanceof HoconError) {
      return syntaxError(file, 'hocon', e.tooLarge ? e.message : `HOCON: ${e.message}`, lines.range(e.offset, e.offset + 1), e.tooLarge ? 'config-too-large' : 'config-syntax');
    }
    return syntaxError(file, 'hocon', `HOCON could not be read: ${(e as Error).message}`, pointRange(0, 0));
  }
}

interface Token {
  text: string;
  /** A typed scalar (numbers, booleans, null) or the string itself. */
  value: ScalarValue;
  start: number;
  end: number;
  /** Quoted strings never become numbers or booleans. */
  quoted: boolean;
}

class HoconReader {
  private pos = 0;
  private readonly out: ConfigEntry[] = [];

  constructor(
    private readonly text: string,
    private readonly lines: LineIndex,
  ) {}

  document(): ConfigEntry[] {
    this.skipBlank(true);
    if (this.peek() === '{') {
      this.pos++;
      this.fields([], 1, '}');
      this.expect('}');
    } else if (this.peek() === '[') {
      throw new HoconError('a root array is not a training config', this.pos);
    } else {
      this.fields([], 1, undefined);
    }
    this.skipBlank(true);
    if (this.pos < this.text.length) throw new HoconError(`unexpected '${this.peek()}'`, this.pos);
    return this.out;
  }

  private peek(offset = 0): string {
    return this.text[this.pos + offset] ?? '';
  }

  private expect(ch: string): void {
    if (this.peek() !== ch) throw new HoconError(this.pos >= this.text.length ? `expected '${ch}' before the end of the file` : `expected '${ch}', found '${this.peek()}'`, this.pos);
    this.pos++;
  }

  /** Spaces and comments; newlines too when `newlines`. Returns whether a newline was crossed. */
  private skipBlank(newlines: boolean): boolean {
    let crossed = false;
    while (this.pos < this.text.length) {
      const c = this.peek();
      if (c === '#' || (c === '/' && this.peek(1) === '/')) {
        while (this.pos < this.text.length && this.peek() !== '\n') this.pos++;
      } else if (c === '\n') {
        if (!newlines) return crossed;
        crossed = true;
        this.pos++;
      } else if (c === ' ' || c === '\t' || c === '\r' || c === '\ufeff') {
        this.pos++;
      } else break;
    }
    return crossed;
  }

  /** Fields of an object until `close` (or the end of the file for a root without braces). */
  private fields(path: string[], depth: number, close: '}' | undefined): void {
    if (depth > PARSE_LIMITS.maxDepth) throw new HoconError(`HOCON nested deeper than ${PARSE_LIMITS.maxDepth} levels.`, this.pos, true);
    for (;;) {
      this.skipBlank(true);
      if (this.pos >= this.text.length || this.peek() === close) return;
      if (this.peek() === ',') {
        this.pos++;
        continue;
      }
      if (this.text.startsWith('include', this.pos) && /\s/.test(this.peek(7))) {
        // `include "other.conf"` / `include required(file("…"))`: not followed (nothing is read or fetched).
        while (this.pos < this.text.length && this.peek() !== '\n') this.pos++;
        continue;
      }
      const key = this.key();
      this.skipBlank(false);
      const c = this.peek();
      if (c === '{') {
        this.pos++;
        this.fields([...path, ...key.segments], depth + 1, '}');
        this.expect('}');
      } else {
        if (c === ':' || c === '=') this.pos++;
        else if (c === '+' && this.peek(1) === '=') this.pos += 2;
        else throw new HoconError(`expected ':', '=' or '{' after the key '${key.segments.join('.')}'`, this.pos);
        this.skipBlank(true);
        this.value([...path, ...key.segments], key.range, depth + 1);
      }
    }
  }

  private key(): { segments: string[]; range: Range } {
    const start = this.pos;
    const segments: string[] = [];
    let current = '';
    let any = false;
    while (this.pos < this.text.length) {
      const c = this.peek();
      if (c === '"') {
        current += this.quoted().text;
        any = true;
      } else if (c === '.') {
        segments.push(current);
        current = '';
        this.pos++;
      } else if (c === ' ' || c === '\t') {
        // Whitespace inside a key is kept only between parts of it (`a b = 1` is the key "a b").
        const rest = this.text.slice(this.pos).match(/^[ \t]+/)![0];
        const next = this.text[this.pos + rest.length] ?? '';
        if (next === '' || FORBIDDEN.has(next) || next === '\n' || next === '{' || (next === '/' && this.text[this.pos + rest.length + 1] === '/')) break;
        current += rest;
        this.pos += rest.length;
      } else if (c === '\n' || c === '\r' || FORBIDDEN.has(c) || (c === '/' && this.peek(1) === '/')) {
        break;
      } else {
        current += c;
        any = true;
        this.pos++;
      }
    }
    if (!any && segments.length === 0) throw new HoconError(this.pos >= this.text.length ? 'expected a key before the end of the file' : `expected a key, found '${this.peek()}'`, this.pos);
    segments.push(current);
    return { segments, range: this.lines.range(start, this.pos) };
  }

  private value(path: string[], keyRange: Range, depth: number): void {
    if (depth > PARSE_LIMITS.maxDepth) throw new HoconError(`HOCON nested deeper than ${PARSE_LIMITS.maxDepth} levels.`, this.pos, true);
    const c = this.peek();
    if (c === '{') {
      this.pos++;
      this.fields(path, depth + 1, '}');
      this.expect('}');
      return;
    }
    if (c === '[') {
      this.pos++;
      let i = 0;
      for (;;) {
        this.skipBlank(true);
        if (this.peek() === ']') break;
        if (this.peek() === ',') {
          this.pos++;
          continue;
        }
        if (this.pos >= this.text.length) throw new HoconError("expected ']' before the end of the file", this.pos);
        const itemStart = this.pos;
        this.value([...path, String(i++)], this.lines.range(itemStart, itemStart + 1), depth + 1);
        // A sequence item's key range is its own range, as the other readers give it.
        const last = this.out[this.out.length - 1];
        if (last && last.path.length === path.length + 1 && last.path[path.length] === String(i - 1)) last.keyRange = last.valueRange;
      }
      this.expect(']');
      return;
    }
    // A scalar: one or more tokens on this line, concatenated (HOCON value concatenation).
    const tokens: Token[] = [];
    for (;;) {
      const t = this.scalarToken();
      if (!t) break;
      tokens.push(t);
      // Spaces between tokens belong to the concatenation; a comment, newline, comma or closer ends it.
      const before = this.pos;
      this.skipBlank(false);
      const n = this.peek();
      if (n === '' || n === '\n' || n === ',' || n === '}' || n === ']' || n === '#' || (n === '/' && this.peek(1) === '/')) break;
      tokens.push({ text: this.text.slice(before, this.pos), value: this.text.slice(before, this.pos), start: before, end: this.pos, quoted: true });
    }
    if (!tokens.length) throw new HoconError(this.pos >= this.text.length ? 'expected a value before the end of the file' : `expected a value, found '${this.peek()}'`, this.pos);
    const value: ScalarValue = tokens.length === 1 ? tokens[0].value : tokens.map((t) => (t.value === null ? 'null' : String(t.value))).join('');
    if (this.out.length >= PARSE_LIMITS.maxEntries) throw new HoconError(`HOCON has more than ${PARSE_LIMITS.maxEntries} values: not read as a training config.`, this.pos, true);
    this.out.push({ path, value, keyRange, valueRange: this.lines.range(tokens[0].start, tokens[tokens.length - 1].end) });
  }

  private scalarToken(): Token | undefined {
    const start = this.pos;
    const c = this.peek();
    if (c === '"') {
      const q = this.quoted();
      return { text: this.text.slice(start, this.pos), value: q.text, start, end: this.pos, quoted: true };
    }
    if (c === '$' && this.peek(1) === '{') {
      const close = this.text.indexOf('}', this.pos);
      const nl = this.text.indexOf('\n', this.pos);
      if (close < 0 || (nl >= 0 && nl < close)) throw new HoconError("a substitution '${' is not closed on its line", this.pos);
      // `${?x}` (optional) reads like `${x}` here; HOCON falls back to the environment variable x when the file has no x.
      const inner = this.text.slice(this.pos + 2, close).replace(/^\?/, '').trim();
      this.pos = close + 1;
      return { text: this.text.slice(start, this.pos), value: `\${${inner}}`, start, end: this.pos, quoted: true };
    }
    let s = '';
    while (this.pos < this.text.length) {
      const ch = this.peek();
      if (ch === '\n' || ch === ' ' || ch === '\t' || ch === '\r' || FORBIDDEN.has(ch) || (ch === '/' && this.peek(1) === '/')) break;
      s += ch;
      this.pos++;
    }
    if (!s) return undefined;
    return { text: s, value: typed(s), start, end: this.pos, quoted: false };
  }

  /** A "…" or """…""" string at the current position. */
  private quoted(): { text: string } {
    const start = this.pos;
    if (this.text.startsWith('"""', this.pos)) {
      const end = this.text.indexOf('"""', this.pos + 3);
      if (end < 0) throw new HoconError('a """ string is not closed', start);
      let close = end + 3;
      while (this.text[close] === '"') close++; // extra quotes before the closing """ belong to the string
      this.pos = close;
      return { text: this.text.slice(start + 3, close - 3) };
    }
    this.pos++;
    let out = '';
    while (this.pos < this.text.length) {
      const ch = this.peek();
      if (ch === '"') {
        this.pos++;
        return { text: out };
      }
      if (ch === '\n') break;
      if (ch === '\\') {
        const e = this.peek(1);
        const simple: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
        if (e in simple) {
          out += simple[e];
          this.pos += 2;
          continue;
        }
        if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(this.text.slice(this.pos + 2, this.pos + 6))) {
          out += String.fromCharCode(parseInt(this.text.slice(this.pos + 2, this.pos + 6), 16));
          this.pos += 6;
          continue;
        }
        throw new HoconError(`unknown escape '\\${e}' in a string`, this.pos);
      }
      out += ch;
      this.pos++;
    }
    throw new HoconError('a string is not closed on its line', start);
  }
}

/** Unquoted scalars: numbers, true/false, null; otherwise the text (`yes`/`on` stay text, as HOCON keeps them). */
function typed(s: string): ScalarValue {
  if (/^-?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(s)) return Number(s);
  if (s === 'true') return true;
  if (s === 'false') return false;
  if (s === 'null') return null;
  return s;
}
