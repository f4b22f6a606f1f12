// A model class defined in a standalone script whose top level must not run (it parses a required flag, downloads a
// dataset, trains): the export bridge builds the class from a module of the script's imports and only the definitions
// it needs (definitionsModule.ts), as for a notebook, never by importing the script. A constant the class reads whose
// own statements would run something unsafe (`ndf = int(opt.ndf)`, where `opt = parser.parse_args()` exits on the
// required --data-root) is written as the value the static reader gives it (staticValue.ts: the argparse default,
// the literal), the same reading that gives the constructor its arguments; so is one assigned inside a block that
// also trains (`try: dataset = MNIST(…, download=True); nc = 1`). What cannot be kept or read that way is refused, with
// the line that would run, as importSafety refuses a whole script.

import { basename } from 'node:path';
import { definitionsModule, type ConstantLiteral, type DefinitionsModule } from './definitionsModule';
import { importHazard, type ImportHazard } from './importSafety';
import { enclosing, short, walk, type ModuleIndex } from './moduleIndex';
import { parsePython, type pythonParser, type SyntaxNode } from './pythonParser';
import { resolveValue } from './staticValue';

type Parser = Awaited<ReturnType<typeof pythonParser>>;

/** A constant written as a value, and where the value was read (for the report). */
export interface ReadConstant extends ConstantLiteral {
  /** "`int(opt.ndf)` (line 168), default of --ndf". */
  from: string;
}

export type ScriptDefinitions =
  | {
    kind: 'module';
    module: DefinitionsModule;
    constants: ReadConstant[];
    /** What importing the whole script would have run (the reason it is not imported). */
    skipped: ImportHazard;
  }
  | { kind: 'refused'; skipped: ImportHazard; hazard: ImportHazard; chain: string[] };

/** Rounds of "a kept constant would run something: write it as a literal" before giving up (each round fixes one). */
const MAX_ROUNDS = 16;

/**
 * The module for `name` (a class or builder function defined at the top level of the script `index` reads), given
 * that importing the script would run `skipped`. Kept statements are checked by importSafety's rules; a kept constant
 * that would run something unsafe, or one bound only inside a block, is written as its statically read value.
 */
export function scriptDefinitions(parser: Parser, index: ModuleIndex, name: string, skipped: ImportHazard): ScriptDefinitions {
  const constants: ReadConstant[] = [];
  let last: { hazard: ImportHazard; chain: string[] } | undefined;
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const module = definitionsModule(index.root, index.text, name, { literals: constants });
    // Constants the kept statements read that the script binds only inside a block: a literal, or refused.
    const inBlock = module.boundInBlocks.find((n) => !constants.some((c) => c.name === n));
    if (inBlock) {
      const read = readConstant(index, inBlock);
      const binding = lastBinding(index, inBlock);
      if (read) {
        constants.push(read);
        continue;
      }
      const row = binding?.startPosition.row ?? 0;
      return { kind: 'refused', skipped, hazard: { what: short(binding?.text ?? inBlock), line: row, why: `${inBlock} is assigned inside a block that runs at import, and its value is not read statically` }, chain: [name, inBlock] };
    }
    const hazard = hazardOf(parser, index.file, module.text);
    if (!hazard) return { kind: 'module', module, constants: [...constants].sort((a, b) => a.row - b.row), skipped };
    const chain = module.keptFor(hazard.line) ?? [name];
    last = { hazard, chain };
    // The constant closest to the definitions, on the way to the statement that would run, read as a value instead.
    const replaceable = chain.slice(1).find((n) => !isDefinition(index, n) && !constants.some((c) => c.name === n) && readConstant(index, n));
    if (!replaceable) return { kind: 'refused', skipped, hazard, chain };
    constants.push(readConstant(index, replaceable)!);
  }
  return { kind: 'refused', skipped, hazard: last?.hazard ?? skipped, chain: last?.chain ?? [name] };
}

/** The refusal's clause after importSafety's own: what building the class from the script's definitions would run. */
export function definitionsRefusal(file: string, r: Extract<ScriptDefinitions, { kind: 'refused' }>): string {
  const via = r.chain.length > 1 ? `: ${r.chain[0]} needs ${r.chain.slice(1).map((n) => `\`${n}\``).join(', which needs ')}, ` : ', ';
  return `nor can ${r.chain[0]} be built from ${basename(file)}'s definitions alone${via}which would run \`${r.hazard.what}\` (line ${r.hazard.line + 1}: ${r.hazard.why})`;
}

/** What the report says of a module built this way: the definitions kept, the constants read, what did not run. */
export function definitionsNote(file: string, name: string, defs: Extract<ScriptDefinitions, { kind: 'module' }>): string {
  const read = defs.constants.length ? `; ${defs.constants.map((c) => `${c.name} = ${c.python} read from ${c.from}`).join(', ')}` : '';
  return `built from ${basename(file)}'s imports and the definitions ${name} needs (${defs.module.defines.join(', ')}) without running its top level (which would run \`${defs.skipped.what}\`, line ${defs.skipped.line + 1}: ${defs.skipped.why})${read}`;
}

function hazardOf(parser: Parser, file: string, text: string): ImportHazard | undefined {
  const parsed = parsePython(parser, text);
  if (parsed.kind !== 'tree') return { what: basename(file), line: 0, why: parsed.message };
  try {
    return importHazard(file, parsed.tree.rootNode);
  } finally {
    parsed.tree.delete();
  }
}

function isDefinition(index: ModuleIndex, name: string): boolean {
  return index.classes.has(name) || index.functions.has(name);
}

/** Module-level assignments to `name` (not inside a function or class), in order. */
function moduleBindings(index: ModuleIndex, name: string): SyntaxNode[] {
  const out: SyntaxNode[] = [];
  for (const n of walk(index.root)) {
    if (n.type !== 'assignment' && n.type !== 'augmented_assignment') continue;
    if (enclosing(n, ['function_definition', 'class_definition', 'lambda'])) continue;
    const left = n.childForFieldName('left');
    if (left?.type === 'identifier' && left.text === name) out.push(n);
    else if (left && /pattern_list|tuple_pattern|list_pattern/.test(left.type) && left.namedChildren.some((c) => c?.text === name)) out.push(n);
  }
  return out;
}

function lastBinding(index: ModuleIndex, name: string): SyntaxNode | undefined {
  return moduleBindings(index, name).at(-1);
}

/**
 * `name`'s value read statically, when the script binds it once at module level (`x = …`, not `x += …`, not unpacked)
 * and the reader gives one value: a number, a string, a boolean or None.
 */
function readConstant(index: ModuleIndex, name: string): ReadConstant | undefined {
  const bindings = moduleBindings(index, name);
  if (bindings.length !== 1) return undefined;
  const [a] = bindings;
  const left = a.childForFieldName('left');
  const right = a.childForFieldName('right');
  if (a.type !== 'assignment' || left?.type !== 'identifier' || !right || right.type === 'assignment') return undefined;
  const r = resolveValue({ module: index }, right);
  if (r.kind !== 'known') return undefined;
  const distinct = [...new Set(r.values.map((v) => JSON.stringify(v.value)))];
  if (distinct.length !== 1) return undefined;
  const { value, source } = r.values[0];
  const python = pythonLiteral(value, isFloat(index, right, source.range));
  if (python === undefined) return undefined;
  const line = a.startPosition.row + 1;
  const where = source.label && !/^line \d+$/.test(source.label) ? `, ${source.label}` : '';
  return { name, row: a.startPosition.row, python, from: `\`${short(right.text)}\` (line ${line})${where}` };
}

/** A float in Python: written `float(…)`, or its value written with a point or an exponent (`1.0`, `1e-5`). */
function isFloat(index: ModuleIndex, right: SyntaxNode, range: { start: { line: number; character: number }; end: { line: number; character: number } }): boolean {
  if (/^float\s*\(/.test(right.text)) return true;
  if (/^int\s*\(/.test(right.text)) return false;
  const lines = index.text.split('\n');
  const written = range.start.line === range.end.line ? (lines[range.start.line] ?? '').slice(range.start.character, range.end.character) : '';
  return /^[-+]?(\d[\d_]*)?\.|^[-+]?\d[\d_]*[eE]/.test(written.trim());
}

function pythonLiteral(v: unknown, float: boolean): string | undefined {
  if (v === null) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' && Number.isFinite(v)) return Number.isInteger(v) && float ? `${v}.0` : String(v);
  return undefined;
}
