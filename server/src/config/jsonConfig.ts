// JSON configs (NVFlare config_fed_client.json, Hugging Face training arguments) → the flat key tree with ranges.

import { parseTree, printParseErrorCode, type Node as JsonNode, type ParseError } from 'jsonc-parser';
import {
  LineIndex,
  PARSE_LIMITS,
  pointRange,
  syntaxError,
  type ConfigEntry,
  type ParseOutcome,
  type Range,
  type ScalarValue,
} from './keyTree';
import { resolveFileVariables } from './placeholders';

export function parseJsonConfig(file: string, text: string): ParseOutcome {
  const lines = new LineIndex(text);
  if (text.length > PARSE_LIMITS.maxTextLength) {
    return syntaxError(file, 'json', `File too large to be a training config (${text.length} characters).`, pointRange(0, 0), 'config-too-large');
  }
  try {
    const errors: ParseError[] = [];
    // Comments and trailing commas are tolerated: NVFlare and many tools read configs with JSONC-lenient loaders.
    const root = parseTree(text, errors, { allowTrailingComma: true, disallowComments: false });
    const first = errors[0];
    if (first) {
      return syntaxError(
        file,
        'json',
        `JSON: ${describeJsonError(printParseErrorCode(first.error))}`,
        lines.range(first.offset, first.offset + Math.max(1, first.length)),
      );
    }
    const entries: ConfigEntry[] = [];
    if (root) walk(root, [], undefined, 0, lines, entries);
    resolveFileVariables(entries);
    return { kind: 'tree', tree: { file, format: 'json', entries } };
  } catch (e) {
    const message = e instanceof TooBig ? e.message : `JSON could not be read: ${(e as Error).message}`;
    return syntaxError(file, 'json', message, pointRange(0, 0), e instanceof TooBig ? 'config-too-large' : 'config-syntax');
  }
}

class TooBig extends Error {}

function walk(node: JsonNode, path: string[], keyRange: Range | undefined, depth: number, lines: LineIndex, out: ConfigEntry[]): void {
  if (depth > PARSE_LIMITS.maxDepth) throw new TooBig(`JSON nested deeper than ${PARSE_LIMITS.maxDepth} levels.`);
  const own = lines.range(node.offset, node.offset + node.length);
  if (node.type === 'object') {
    for (const prop of node.children ?? []) {
      const [k, v] = prop.children ?? [];
      if (!k || !v) continue;
      walk(v, [...path, String(k.value)], lines.range(k.offset, k.offset + k.length), depth + 1, lines, out);
    }
    return;
  }
  if (node.type === 'array') {
    (node.children ?? []).forEach((item, i) => {
      walk(item, [...path, String(i)], lines.range(item.offset, item.offset + item.length), depth + 1, lines, out);
    });
    return;
  }
  if (path.length === 0) return;
  if (out.length >= PARSE_LIMITS.maxEntries) throw new TooBig(`JSON has more than ${PARSE_LIMITS.maxEntries} values: not read as a training config.`);
  out.push({ path, value: node.value as ScalarValue, keyRange: keyRange ?? own, valueRange: own });
}

/** jsonc-parser's codes are identifiers ('CloseBraceExpected'); users read sentences. */
function describeJsonError(code: string): string {
  const words = code.replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1) + '.';
}
