// Bundles the webview pages with esbuild into media/dist/ (build output: gitignored): one IIFE per page
// (spectrum, report) with d3 inlined, and one stylesheet. The pages load nothing else: no remote content.
import * as esbuild from 'esbuild';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const production = process.argv.includes('--production');

export async function buildMedia({ production: prod = production } = {}) {
  await esbuild.build({
    absWorkingDir: root,
    entryPoints: { spectrum: 'media/src/spectrum/main.ts', report: 'media/src/report/main.ts', styles: 'media/src/styles.css' },
    outdir: 'media/dist',
    bundle: true,
    platform: 'browser',
    format: 'iife',
    target: ['chrome114'],
    minify: prod,
    // Source maps inline in development only (a separate .map would be one more request the CSP must allow).
    sourcemap: prod ? false : 'inline',
    legalComments: 'linked',
    logLevel: 'warning',
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await buildMedia();
