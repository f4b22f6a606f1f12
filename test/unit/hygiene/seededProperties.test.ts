// Every fast-check property in test/ runs from a seed: an unseeded property draws new inputs on every run, so a
// failure on CI could not be replayed. Reads the test sources; fc.assert's parameters must be its second argument,
// written `seeded(…)` (test/support/property.ts: I2F_FC_SEED can override it) or an object literal with a seed.
import test from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const ROOT = join(__dirname, '..', '..', '..');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return name === 'fixtures' ? [] : sources(p);
    return p.endsWith('.ts') ? [p] : [];
  });
}

/** The top-level arguments of each `fc.assert(…)` call in `text`, with the line it starts on. */
export function assertCalls(text: string): { line: number; args: string[] }[] {
  const calls: { line: number; args: string[] }[] = [];
  for (const m of text.matchAll(/\bfc\.assert\(/g)) {
    const args: string[] = [];
    let depth = 0;
    let start = m.index! + m[0].length;
    let i = start;
    for (; i < text.length; i++) {
      const c = text[i];
      if ('([{'.includes(c)) depth++;
      else if (')]}'.includes(c)) {
        if (depth === 0) break;
        depth--;
      } else if (c === ',' && depth === 0) {
        args.push(text.slice(start, i).trim());
        start = i + 1;
      }
    }
    args.push(text.slice(start, i).trim());
    calls.push({ line: text.slice(0, m.index).split('\n').length, args: args.filter(Boolean) });
  }
  return calls;
}

test('the call reader finds fc.assert\'s arguments, nested calls and trailing commas included', () => {
  const calls = assertCalls('x;\nfc.assert(\n  fc.property(a, (b) => { f(b, [1, 2]); }),\n  seeded({ numRuns: 3 }),\n);\nfc.assert(fc.property(a, g));');
  assert.deepEqual(calls, [
    { line: 2, args: ['fc.property(a, (b) => { f(b, [1, 2]); })', 'seeded({ numRuns: 3 })'] },
    { line: 6, args: ['fc.property(a, g)'] },
  ]);
});

/** Whether fc.assert's parameters (its second argument) fix the seed. */
export const seededParameters = (args: string[]): boolean =>
  args.length === 2 && (/^seeded\(/.test(args[1]) || /^\{[^]*\bseed:\s*\d+/.test(args[1]));

test('parameters are seeded through seeded(…) or a literal seed, and nothing else', () => {
  assert.equal(seededParameters(['p', 'seeded({ numRuns: 3 })']), true);
  assert.equal(seededParameters(['p', '{ seed: 15, numRuns: 300 }']), true);
  assert.equal(seededParameters(['p', '{ numRuns: 300 }']), false);
  assert.equal(seededParameters(['p']), false);
  assert.equal(seededParameters(['p', 'options']), false);
});

test('every fc.assert in test/ is seeded', () => {
  const unseeded: string[] = [];
  let seen = 0;
  for (const file of sources(join(ROOT, 'test')).filter((f) => f !== __filename)) {
    for (const call of assertCalls(readFileSync(file, 'utf8'))) {
      seen++;
      if (!seededParameters(call.args)) unseeded.push(`${relative(ROOT, file)}:${call.line}`);
    }
  }
  assert.ok(seen >= 15, `found the suite's properties (${seen})`);
  assert.deepEqual(unseeded, [], 'pass seeded({ numRuns: … }) from test/support/property.ts (or { seed: N, … }) as fc.assert\'s parameters');
});
