// Shared bits for the config tests: fixture paths and compact range literals.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Range } from '../../../server/src/config/keyTree';

export const FIXTURES = join(__dirname, '..', '..', 'fixtures', 'configs');

export function fixture(rel: string): { file: string; text: string } {
  const file = join(FIXTURES, rel);
  return { file, text: readFileSync(file, 'utf8') };
}

/** range(line, from, line2, to): 0-based, LSP-style. */
export function range(line: number, character: number, endLine: number, endCharacter: number): Range {
  return { start: { line, character }, end: { line: endLine, character: endCharacter } };
}
