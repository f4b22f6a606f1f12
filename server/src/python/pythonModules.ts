// Reads Python modules without running them: the imports, top-level classes and calls the export bridge needs to
// find which torch.nn.Module a Flower client app trains. A lexical reading (strings and comments blanked first, then
// statements matched), enough for import lines, `class X(Base):` and `X(` calls; nothing of the user's is executed.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ImportedName {
  /** Absolute module name the binding comes from ('pytorchexample.task'). */
  module: string;
  /** The attribute imported from it (`from m import Net` → 'Net'); undefined for `import m as x`. */
  attr?: string;
}

export interface PythonClass {
  name: string;
  /** Base expressions as written ('nn.Module', 'torch.nn.Module', 'Base'). */
  bases: string[];
  /** 0-based line of the `class` statement. */
  line: number;
}

export interface ModuleReading {
  file: string;
  imports: Map<string, ImportedName>;
  classes: PythonClass[];
  /** Top-level `def name(` functions, with their 0-based lines. */
  functions: Map<string, number>;
  /** Names called anywhere (`Net(` → 'Net', `models.Net(` → 'models.Net'), in order of first appearance. */
  calls: string[];
}

/** The module's source file under `root` (`pkg/mod.py` or `pkg/mod/__init__.py`; `src/` layouts too), or undefined. */
export function moduleFile(root: string, module: string): { file: string; root: string } | undefined {
  const rel = module.split('.');
  for (const base of [root, join(root, 'src')]) {
    const asFile = join(base, ...rel) + '.py';
    if (existsSync(asFile)) return { file: asFile, root: base };
    const asPackage = join(base, ...rel, '__init__.py');
    if (existsSync(asPackage)) return { file: asPackage, root: base };
  }
  return undefined;
}

/** Blanks string literals and comments (keeping line breaks and columns), so patterns never match inside them. */
export function blankStringsAndComments(text: string): string {
  const out = text.split('');
  let i = 0;
  const blank = (from: number, to: number) => {
    for (let k = from; k < to; k++) if (out[k] !== '\n') out[k] = ' ';
  };
  while (i < text.length) {
    const c = text[i];
    if (c === '#') {
      const end = text.indexOf('\n', i);
      const stop = end < 0 ? text.length : end;
      blank(i, stop);
      i = stop;
      continue;
    }
    if (c === '"' || c === "'") {
      const triple = text.startsWith(c.repeat(3), i);
      const quote = triple ? c.repeat(3) : c;
      let k = i + quote.length;
      while (k < text.length) {
        if (text[k] === '\\') {
          k += 2;
          continue;
        }
        if (text.startsWith(quote, k)) break;
        if (!triple && text[k] === '\n') break; // unterminated single-line string: stop at the line end
        k++;
      }
      const stop = Math.min(text.length, k + quote.length);
      // Keep the quotes so `x = "a"` stays an expression; blank what is inside.
      blank(i + quote.length, Math.max(i + quote.length, stop - quote.length));
      i = stop;
      continue;
    }
    i++;
  }
  return out.join('');
}

/** Joins bracketed continuation lines and backslash continuations into logical lines, each with its first line number. */
function logicalLines(code: string): { text: string; line: number }[] {
  const lines = code.split('\n');
  const out: { text: string; line: number }[] = [];
  let buf = '';
  let start = 0;
  let depth = 0;
  for (let n = 0; n < lines.length; n++) {
    const l = lines[n];
    if (!buf) start = n;
    buf += (buf ? ' ' : '') + l;
    for (const ch of l) {
      if (ch === '(' || ch === '[' || ch === '{') depth++;
      else if (ch === ')' || ch === ']' || ch === '}') depth = Math.max(0, depth - 1);
    }
    if (depth > 0 || /\\\s*$/.test(l)) {
      buf = buf.replace(/\\\s*$/, '');
      continue;
    }
    out.push({ text: buf, line: start });
    buf = '';
  }
  if (buf) out.push({ text: buf, line: start });
  return out;
}

/** `from ..x import y` inside module `pkg.sub.mod` (a package's `__init__` is the package itself). */
function absoluteModule(relative: string, current: string, isPackage: boolean): string {
  const dots = /^\.*/.exec(relative)![0].length;
  if (dots === 0) return relative;
  const parts = current.split('.');
  const base = parts.slice(0, parts.length - (isPackage ? 0 : 1) - (dots - 1));
  const rest = relative.slice(dots);
  return [...base, ...(rest ? [rest] : [])].join('.');
}

export function readModule(file: string, moduleName: string): ModuleReading {
  const code = blankStringsAndComments(readFileSync(file, 'utf8'));
  const isPackage = file.endsWith('__init__.py');
  const imports = new Map<string, ImportedName>();
  const classes: PythonClass[] = [];
  const functions = new Map<string, number>();
  const calls: string[] = [];
  const seenCalls = new Set<string>();
  for (const { text, line } of logicalLines(code)) {
    const s = text.trim();
    let m: RegExpExecArray | null;
    if ((m = /^from\s+(\.*[\w.]*)\s+import\s+\(?([^)]*)\)?\s*$/.exec(s))) {
      const from = absoluteModule(m[1], moduleName, isPackage);
      for (const item of m[2].split(',')) {
        const im = /^\s*(\w+)(?:\s+as\s+(\w+))?\s*$/.exec(item);
        if (im && im[1] !== '*') imports.set(im[2] ?? im[1], { module: from, attr: im[1] });
      }
      continue;
    }
    if ((m = /^import\s+(.+)$/.exec(s))) {
      for (const item of m[1].split(',')) {
        const im = /^\s*([\w.]+)(?:\s+as\s+(\w+))?\s*$/.exec(item);
        if (!im) continue;
        // `import a.b` binds `a`; `import a.b as c` binds c to a.b.
        if (im[2]) imports.set(im[2], { module: im[1] });
        else imports.set(im[1].split('.')[0], { module: im[1].split('.')[0] });
      }
      continue;
    }
    if (/^class\s/.test(s) && /^\S/.test(text)) {
      const cm = /^class\s+(\w+)\s*(?:\((.*)\))?\s*:/.exec(s);
      if (cm) classes.push({ name: cm[1], bases: (cm[2] ?? '').split(',').map((b) => b.trim()).filter((b) => b && !b.includes('=')), line });
      continue;
    }
    if ((m = /^(?:async\s+)?def\s+(\w+)/.exec(s)) && /^\S/.test(text)) functions.set(m[1], line);
    for (const call of s.matchAll(/(?<![\w.])([A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)*)\s*\(/g)) {
      const name = call[1];
      if (/^(def|class|if|elif|while|for|return|print|not|and|or|in|with|assert|lambda|yield|await)$/.test(name)) continue;
      if (!seenCalls.has(name)) {
        seenCalls.add(name);
        calls.push(name);
      }
    }
  }
  return { file, imports, classes, functions, calls };
}

/** Classes that are torch.nn.Module subclasses by their library's definition (Lightning's modules are nn.Modules). */
const TORCH_MODULE_CLASSES = new Set([
  'torch.nn.Module',
  'torch.nn.modules.module.Module',
  'pytorch_lightning.LightningModule',
  'pytorch_lightning.core.LightningModule',
  'lightning.LightningModule',
  'lightning.pytorch.LightningModule',
]);

/** Does a base expression name torch's Module (`nn.Module`, `torch.nn.Module`, `pl.LightningModule`, …)? */
export function isTorchModuleBase(base: string, imports: Map<string, ImportedName>): boolean {
  const parts = base.split('.');
  const bound = imports.get(parts[0]);
  if (!bound) return false;
  const full = [bound.attr ? `${bound.module}.${bound.attr}` : bound.module, ...parts.slice(1)].join('.');
  return TORCH_MODULE_CLASSES.has(full);
}
