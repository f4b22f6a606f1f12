// Python source → a tree-sitter syntax tree, parsed in the server's own thread with size and time limits; the code is
// read as text and never run. The grammar is tree-sitter-python as VS Code ships it (@vscode/tree-sitter-wasm: the
// runtime and the grammar are built together, so their ABI versions match).

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Language, Parser, Query, type Node, type Tree } from '@vscode/tree-sitter-wasm';
import type { Range } from '../config/keyTree';

export type { Node as SyntaxNode, Tree as SyntaxTree };

/** Limits for one file: training scripts are a few kilobytes; generated or vendored code can be megabytes. */
export const PYTHON_LIMITS = {
  /** Larger files are not parsed (said so, located at the top of the file). */
  maxTextLength: 1_000_000,
  /** Wall time one parse may take before it is abandoned (tree-sitter checks it while it parses). */
  maxParseMs: 2_000,
} as const;

export type PythonParse = { kind: 'tree'; tree: Tree } | { kind: 'too-large'; message: string } | { kind: 'timeout'; message: string };

let loading: Promise<Parser> | undefined;

/**
 * Where the .wasm files are: next to the bundle in dist/wasm (tools/build.mjs copies them there, and the .vsix ships
 * them), or in the package itself when the sources run unbundled (tests).
 */
function wasmFile(name: string): string {
  const bundled = join(__dirname, 'wasm', name);
  if (existsSync(bundled)) return bundled;
  const pkg = dirname(createRequire(__filename).resolve('@vscode/tree-sitter-wasm/package.json'));
  return join(pkg, 'wasm', name);
}

/** The one parser of this process, loaded on first use (≈30 ms: two WebAssembly modules). */
export function pythonParser(): Promise<Parser> {
  loading ??= (async () => {
    await Parser.init({ locateFile: (file: string) => wasmFile(file) });
    const language = await Language.load(wasmFile('tree-sitter-python.wasm'));
    const parser = new Parser();
    parser.setLanguage(language);
    return parser;
  })();
  return loading;
}

let importQuery: Query | undefined;

/**
 * The root packages a module imports, anywhere in it (`import opacus.x`, `from flwr.client import …`, inside a
 * function too). A tree-sitter query runs inside WebAssembly: on ordinary Python it costs a fraction of the parse,
 * where walking the tree node by node from JavaScript costs several parses, so a module that imports no DP library
 * is dismissed with it before any other reading.
 */
export function importedRoots(tree: Tree): Set<string> {
  importQuery ??= new Query(tree.language, '(import_statement name: [(dotted_name) @m (aliased_import name: (dotted_name) @m)]) (import_from_statement module_name: (dotted_name) @m)');
  const roots = new Set<string>();
  for (const c of importQuery.captures(tree.rootNode)) roots.add(c.node.text.split('.')[0]);
  return roots;
}

/** Parses one file's text. The caller must `tree.delete()` the tree when done (it lives in WebAssembly memory). */
export function parsePython(parser: Parser, text: string, limits: { maxTextLength?: number; maxParseMs?: number } = {}): PythonParse {
  const maxLength = limits.maxTextLength ?? PYTHON_LIMITS.maxTextLength;
  if (text.length > maxLength) {
    return { kind: 'too-large', message: `Python file too large to read for DP call sites (${text.length} characters, limit ${maxLength}).` };
  }
  const maxMs = limits.maxParseMs ?? PYTHON_LIMITS.maxParseMs;
  const deadline = performance.now() + maxMs;
  parser.reset();
  const tree = parser.parse(text, null, { progressCallback: (() => performance.now() > deadline) as () => void });
  if (!tree) {
    parser.reset();
    return { kind: 'timeout', message: `Parsing this Python file took longer than ${maxMs} ms and was abandoned; its DP call sites are not read.` };
  }
  return { kind: 'tree', tree };
}

/** A node's LSP range: web-tree-sitter parses JavaScript strings as UTF-16, so columns are UTF-16 code units. */
export function nodeRange(node: Node): Range {
  return {
    start: { line: node.startPosition.row, character: node.startPosition.column },
    end: { line: node.endPosition.row, character: node.endPosition.column },
  };
}
