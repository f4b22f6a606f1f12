// The quick fix of I2F159 (the loss analysed gives no gradient): write the loss the model trains with into the config's
// i2f section (`i2f: { loss: binary-cross-entropy }`), in the file's own syntax, as one inserted line or section. The
// one loss it can name is binary cross-entropy for a one-output model analysed under softmax cross-entropy (a constant
// there); a model whose output does not move gets no fix, since no loss gives it a gradient (validityText.ts).

import type { TextEdit } from 'vscode-languageserver';
import type { ConfigFormat } from '../config/keyTree';
export { lossThatGivesGradient } from '../analysis/lossChoice';

/**
 * The edit that sets `loss` in the config's i2f section: a line under an existing `i2f:` / `[tool.i2f]` / `"i2f": {`
 * when the file has one (a `loss` already there is replaced where it is written), else a new section at the end.
 */
export function lossKeyEdit(text: string, format: ConfigFormat, file: string, loss: string, written?: { range: TextEdit['range'] }): TextEdit | undefined {
  if (written) return { range: written.range, newText: format === 'yaml' ? loss : JSON.stringify(loss) };
  const lines = text.split('\n');
  const endOfFile = { line: lines.length - 1, character: lines[lines.length - 1].length };
  const after = (line: number, inserted: string): TextEdit => ({ range: { start: { line: line + 1, character: 0 }, end: { line: line + 1, character: 0 } }, newText: `${inserted}\n` });
  const lead = text.length && !text.endsWith('\n') ? '\n' : '';
  switch (format) {
    case 'yaml': {
      const at = lines.findIndex((l) => /^i2f:\s*(#.*)?$/.test(l));
      if (at < 0) return { range: { start: endOfFile, end: endOfFile }, newText: `${lead}i2f:\n  loss: ${loss}\n` };
      const indent = /^(\s+)\S/.exec(lines[at + 1] ?? '')?.[1] ?? '  ';
      return after(at, `${indent}loss: ${loss}`);
    }
    case 'toml': {
      const section = /pyproject\.toml$/i.test(file) ? 'tool.i2f' : 'i2f';
      const at = lines.findIndex((l) => new RegExp(`^\\[${section.replace('.', '\\.')}\\]\\s*(#.*)?$`).test(l));
      if (at < 0) return { range: { start: endOfFile, end: endOfFile }, newText: `${lead}\n[${section}]\nloss = ${JSON.stringify(loss)}\n` };
      return after(at, `loss = ${JSON.stringify(loss)}`);
    }
    case 'json': {
      const m = /"i2f"\s*:\s*\{/.exec(text);
      const offsetPosition = (offset: number) => {
        const before = text.slice(0, offset).split('\n');
        return { line: before.length - 1, character: before[before.length - 1].length };
      };
      if (m) {
        const p = offsetPosition(m.index + m[0].length);
        const empty = /^\s*\}/.test(text.slice(m.index + m[0].length));
        return { range: { start: p, end: p }, newText: ` "loss": ${JSON.stringify(loss)}${empty ? ' ' : ','}` };
      }
      const close = text.lastIndexOf('}');
      if (close < 0) return undefined;
      const open = text.slice(0, close).trimEnd();
      const p = offsetPosition(open.length);
      const comma = open.endsWith('{') ? '' : ',';
      return { range: { start: p, end: p }, newText: `${comma}\n  "i2f": { "loss": ${JSON.stringify(loss)} }` };
    }
    default:
      return undefined;
  }
}
