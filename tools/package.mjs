// `npm run package`: a production build (minified, no source maps) and a linux-x64 .vsix made offline by
// @vscode/vsce. What ships is decided by the allow-list .vscodeignore: the four bundles, tfjs-backend-wasm's .wasm
// binaries (dist/wasm), the export bridge's Python helper (dist/python), the manifest, README,
// CHANGELOG, media/, docs/ and onnxruntime-node's linux-x64 binaries (plus onnxruntime-common, its one runtime dep).
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';

const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
const target = process.env.I2F_VSIX_TARGET ?? 'linux-x64';
const out = process.argv[2] ?? `${pkg.name}-${pkg.version}.vsix`;

execFileSync(process.execPath, ['tools/build.mjs', '--production'], { stdio: 'inherit' });
// vsce lists production dependencies with `npm ls` (no network) and filters them through .vscodeignore.
execFileSync(process.execPath, [
  'node_modules/@vscode/vsce/vsce', 'package', '--no-yarn', '--target', target, '--out', out,
], { stdio: 'inherit' });
const mb = statSync(out).size / 1e6;
console.log(`${out}: ${mb.toFixed(1)} MB (${target})`);
