// Bundles the four entry points with esbuild: the VS Code client, the language server, the analysis worker and
// the `i2f` CLI. Native and heavy modules stay external (onnxruntime-node ships a .node binary; vscode is the host).
import * as esbuild from 'esbuild';
import { existsSync } from 'node:fs';
import { buildMedia } from './build-media.mjs';

const production = process.argv.includes('--production');
const entries = [
  { in: 'client/src/extension.ts', out: 'client', external: ['vscode'] },
  { in: 'server/src/server.ts', out: 'server' },
  { in: 'server/src/analysis/worker.ts', out: 'worker' },
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
  external: ['onnxruntime-node', '@tensorflow/tfjs-node', ...(e.external ?? [])],
  banner: e.banner ? { js: e.banner } : undefined,
})));

// The webview pages (media/src → media/dist), bundled for the browser.
await buildMedia({ production });
