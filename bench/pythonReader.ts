// The Python DP reader's cost per file (server/src/pysource): the tree-sitter parse alone and the whole read (parse,
// index, DP call sites, values followed), on ordinary Python (every 10th .py file over 1 kB of Debian's
// /usr/lib/python3/dist-packages) parsed whole, and on the DP fixtures (test/fixtures/python). The server runs this
// on its own thread for every opened or discovered .py file that names a DP library, so its tail is what an edit waits.

import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parsePython, pythonParser } from '../server/src/pysource/pythonParser';
import { readPythonFile } from '../server/src/pysource/pythonSetup';
import { ROOT } from './common';

export interface PythonReaderBench {
  files: number;
  totalKB: number;
  /** Per-file wall ms of the parse alone and of the whole read, over the ordinary files. */
  parse: { medianMs: number; p95Ms: number; maxMs: number };
  read: { medianMs: number; p95Ms: number; maxMs: number };
  /** Throughput of the parse over all files, kB per ms. */
  kbPerMs: number;
  largest: { file: string; kB: number; readMs: number };
  /** The DP fixtures: median whole-read ms (they follow values through names, callers and the Flower run config). */
  dpFixtures: { files: number; medianMs: number; maxMs: number };
  /** Files among the ordinary ones in which a DP call site was (wrongly) found: must be 0. */
  falsePositives: number;
}

function pythonFiles(root: string, every: number): string[] {
  if (!existsSync(root)) return [];
  const out: string[] = [];
  const stack = [root];
  while (stack.length) {
    const dir = stack.pop()!;
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      const st = statSync(p, { throwIfNoEntry: false });
      if (!st) continue;
      if (st.isDirectory()) stack.push(p);
      else if (name.endsWith('.py') && st.size > 1024) out.push(p);
    }
  }
  return out.sort().filter((_, i) => i % every === every - 1);
}

function quantiles(xs: number[]): { medianMs: number; p95Ms: number; maxMs: number } {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * (s.length - 1)))] ?? NaN;
  return { medianMs: at(0.5), p95Ms: at(0.95), maxMs: s[s.length - 1] ?? NaN };
}

export async function measurePythonReader(): Promise<PythonReaderBench> {
  const parser = await pythonParser();
  const files = pythonFiles('/usr/lib/python3/dist-packages', 10);
  const parseMs: number[] = [];
  const readMs: number[] = [];
  let bytes = 0;
  let largest = { file: '', kB: 0, readMs: 0 };
  let falsePositives = 0;
  for (const f of files) {
    const text = readFileSync(f, 'utf8');
    bytes += text.length;
    let t0 = performance.now();
    const parsed = parsePython(parser, text);
    parseMs.push(performance.now() - t0);
    if (parsed.kind === 'tree') parsed.tree.delete();
    t0 = performance.now();
    const r = await readPythonFile(f, text, { parseAll: true });
    const ms = performance.now() - t0;
    readMs.push(ms);
    if (r.setup) falsePositives++;
    if (text.length / 1024 > largest.kB) largest = { file: f.replace('/usr/lib/python3/dist-packages/', ''), kB: text.length / 1024, readMs: ms };
  }
  const fixtureRoot = join(ROOT, 'test/fixtures/python');
  const fixtures = ['flower-app/dpapp/client_app.py', ...readdirSync(join(fixtureRoot, 'scripts')).map((n) => `scripts/${n}`)].map((r) => join(fixtureRoot, r));
  const dpMs: number[] = [];
  for (const f of fixtures) {
    const text = readFileSync(f, 'utf8');
    const t0 = performance.now();
    await readPythonFile(f, text);
    dpMs.push(performance.now() - t0);
  }
  const totalParse = parseMs.reduce((a, b) => a + b, 0);
  const dp = quantiles(dpMs);
  return {
    files: files.length,
    totalKB: bytes / 1024,
    parse: quantiles(parseMs),
    read: quantiles(readMs),
    kbPerMs: bytes / 1024 / totalParse,
    largest,
    dpFixtures: { files: fixtures.length, medianMs: dp.medianMs, maxMs: dp.maxMs },
    falsePositives,
  };
}

if (require.main === module) {
  void measurePythonReader().then((r) => process.stdout.write(JSON.stringify(r, null, 1) + '\n'));
}
