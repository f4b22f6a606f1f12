// Notebook cells Python cannot parse. IPython compiles each cell on its own (a cell with a syntax error does not run,
// the next ones do), but the cells are read joined (notebook.ts joinCodeCells): an unclosed bracket in one cell would
// swallow every cell after it and hide their DP call sites. So each cell is parsed alone first, and a broken one is
// set aside (blanked line for line, so positions stay) with where its first error is.

import type { Range } from '../config/keyTree';
import type { JoinedCells } from './notebook';
import { nodeRange, parsePython, pythonParser, type SyntaxNode } from './pythonParser';
import { mentionsDpLibrary } from './pythonSetup';

export interface BrokenCell {
  /** Index into the joined cells. */
  cell: number;
  /** The first error, in the joined text's lines. */
  range: Range;
  /** What is wrong there, in a few words (`missing ")"`, `cannot parse "x = [1, 2"`). */
  what: string;
}

/** The cells of a joined text that do not parse alone, and the joined text with them blanked. */
export async function setAsideBrokenCells<J extends JoinedCells>(joined: J): Promise<{ joined: J; broken: BrokenCell[] }> {
  // Ordinary Python is not read at all (pythonSetup.ts), so its syntax is not ours to report.
  if (!mentionsDpLibrary(joined.text)) return { joined, broken: [] };
  const parser = await pythonParser();
  // One parse of the whole: the usual notebook parses, and no cell needs a parse of its own.
  const whole = parsePython(parser, joined.text);
  if (whole.kind !== 'tree') return { joined, broken: [] };
  const clean = !whole.tree.rootNode.hasError;
  whole.tree.delete();
  if (clean) return { joined, broken: [] };
  const lines = joined.text.split('\n');
  const broken: BrokenCell[] = [];
  for (const span of joined.spans) {
    const cellLines = lines.slice(span.firstLine, span.firstLine + span.lineCount);
    if (!cellLines.some((l) => l.trim())) continue;
    const parsed = parsePython(parser, cellLines.join('\n'));
    // Too large or too slow: the joined reading says so (I2F144 from pythonSetup) rather than this one.
    if (parsed.kind !== 'tree') continue;
    try {
      if (!parsed.tree.rootNode.hasError) continue;
      const error = firstError(parsed.tree.rootNode);
      if (!error) continue;
      const r = nodeRange(error);
      const at = { line: span.firstLine + r.start.line, character: r.start.character };
      // The error's first line only: an ERROR node can run to the end of the cell.
      const end = r.end.line === r.start.line && r.end.character > r.start.character ? { line: at.line, character: r.end.character } : { line: at.line, character: (lines[at.line] ?? '').length };
      broken.push({ cell: span.cell, range: { start: at, end }, what: describe(error) });
    } finally {
      parsed.tree.delete();
    }
  }
  if (!broken.length) return { joined, broken };
  const out = [...lines];
  for (const b of broken) {
    const span = joined.spans.find((s) => s.cell === b.cell)!;
    for (let i = span.firstLine; i < span.firstLine + span.lineCount; i++) out[i] = '';
  }
  return { joined: { ...joined, text: out.join('\n') }, broken };
}

/** The first ERROR or MISSING node in document order. */
function firstError(node: SyntaxNode): SyntaxNode | undefined {
  if (node.isError || node.isMissing) return node;
  for (const child of node.children) {
    if (child && (child.hasError || child.isMissing)) {
      const found = firstError(child);
      if (found) return found;
    }
  }
  return undefined;
}

function describe(node: SyntaxNode): string {
  if (node.isMissing) return `missing "${node.type}"`;
  const text = node.text.split('\n')[0].trim();
  return text ? `cannot parse "${text.length > 40 ? `${text.slice(0, 40)}…` : text}"` : 'unexpected end of the cell';
}
