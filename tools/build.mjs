// Bundles the four entry points with esbuild: the VS Code client, the language server, the analysis worker and
// the `i2f` CLI. Native and heavy modules stay external (onnxruntime-node ships a .node binary; vscode is the host).
import * as esbuild from 'esbuild';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { buildMedia } from './build-media.mjs';

const production = process.argv.includes('--production');

// The engine build: a hash of everything that decides a number (engine, graph, backends, analysis). Cached results
// carry it in their key, so a changed solver or derivative rule never serves a result computed by an older one.
function sourceFiles(dir) {
  return readdirSync(dir).sort().flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? sourceFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}
const engineHash = createHash('sha256');
for (const dir of ['server/src/engine', 'server/src/graph', 'server/src/backends', 'server/src/analysis', 'server/src/config', 'server/src/formats', 'server/src/models']) {
  for (const f of sourceFiles(dir)) engineHash.update(f).update(readFileSync(f));
}
const engineBuild = engineHash.digest('hex').slice(0, 16);
const entries = [
  { in: 'client/src/extension.ts', out: 'client', external: ['vscode'] },
  { in: 'server/src/server.ts', out: 'server' },
  { in: 'server/src/analysis/worker.ts', out: 'worker' },
  { in: 'server/src/privacy/opacusNoiseWorker.ts', out: 'opacusNoiseWorker' },
  { in: 'server/src/cli.ts', out: 'cli', banner: '#!/usr/bin/env node' },
].filter((e) => existsSync(e.in));

await Promise.all(entries.map((e) => esbuild.build({
  entryPoints: { [e.out]: e.in },
  outdir: 'dist',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: !production,
  minify: production,
  logLevel: 'warning',
  // jsonc-parser's UMD entry requires files by computed paths esbuild cannot follow: prefer ESM builds.
  mainFields: ['module', 'main'],
  define: { I2F_ENGINE_BUILD: JSON.stringify(engineBuild) },
  external: ['onnxruntime-node', '@tensorflow/tfjs-node', ...(e.external ?? [])],
  banner: e.banner ? { js: e.banner } : undefined,
})));

// tfjs-backend-wasm's binaries next to the bundles: esbuild bundles its JavaScript, but the .wasm files are loaded
// at run time from the folder backends/tfjs/backend.ts gives setWasmPaths (dist/wasm in a .vsix without node_modules).
// All three: the backend picks SIMD, plain or threaded-SIMD from what the runtime supports.
mkdirSync('dist/wasm', { recursive: true });
const wasmDir = join(dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
for (const f of ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm']) copyFileSync(join(wasmDir, f), join('dist/wasm', f));

// The export bridge's helper (server/src/python/export_model.py), run by the workspace's own Python: beside the bundles
// in dist/python, where exportModel.ts looks for it.
mkdirSync('dist/python', { recursive: true });
copyFileSync('server/src/python/export_model.py', 'dist/python/export_model.py');

// The Python grammar and tree-sitter's runtime (server/src/pysource/pythonParser.ts loads them from dist/wasm): the
// runtime and the grammar come from the same @vscode/tree-sitter-wasm build, so their ABI versions match.
const treeSitterDir = join(dirname(createRequire(import.meta.url).resolve('@vscode/tree-sitter-wasm/package.json')), 'wasm');
for (const f of ['tree-sitter.wasm', 'tree-sitter-python.wasm']) copyFileSync(join(treeSitterDir, f), join('dist/wasm', f));

// The webview pages (media/src → media/dist), bundled for the browser.
await buildMedia({ production });
