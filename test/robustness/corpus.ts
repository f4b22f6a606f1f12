// The hostile-input corpus (test/fixtures/bad/, written by tools/fixtures/bad_fixtures.ts) as the robustness tests
// use it: copied into a temp folder with its symbolic links and FIFO made there.

import { cpSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { BadCase } from '../../tools/fixtures/bad_fixtures';
import { writeSymlinks } from '../../tools/fixtures/bad_fixtures';

export const CORPUS = resolve(__dirname, '../fixtures/bad');
export const REPO = resolve(__dirname, '../..');
export const CLI = join(REPO, 'dist/cli.js');

export function cases(): BadCase[] {
  return (JSON.parse(readFileSync(join(CORPUS, '.manifest/cases.json'), 'utf8')) as { cases: BadCase[] }).cases;
}

/** Copies the corpus to `dest` (or a new temp folder) and makes its links; returns the copy's root. */
export function corpusCopy(dest?: string): string {
  const root = dest ?? join(mkdtempSync(join(tmpdir(), 'i2f-bad-')), 'bad');
  cpSync(CORPUS, root, { recursive: true });
  writeSymlinks(root);
  return root;
}

/** Does a diagnostic/finding (code, 0-based line, message) meet what the manifest expects of its case? */
export function matches(c: BadCase, code: string, line: number, message: string): boolean {
  // I2F001 sits on the key that decides the risk (the first defence key), not where the model is named.
  const lineOk = c.line === undefined || code === 'I2F001' || line === c.line;
  return c.codes.includes(code) && lineOk && (!c.message || new RegExp(c.message).test(message));
}
