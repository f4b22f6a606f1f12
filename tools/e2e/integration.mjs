// The @vscode/test-cli integration suite: bundles test/integration/*.test.ts for the extension host (vscode and mocha
// stay external), copies examples/ to a temp workspace and runs vscode-test with test/integration/.vscode-test.mjs.
import * as esbuild from 'esbuild';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const tests = readdirSync('test/integration').filter((f) => f.endsWith('.test.ts')).map((f) => join('test/integration', f));
rmSync('dist/test/integration', { recursive: true, force: true });
await esbuild.build({
  entryPoints: tests, outdir: 'dist/test/integration', bundle: true, platform: 'node', target: 'node20', format: 'cjs',
  external: ['vscode', 'mocha'], sourcemap: 'inline', logLevel: 'warning',
});
const workspace = mkdtempSync(join(tmpdir(), 'i2f-integration-'));
const profile = mkdtempSync(join(tmpdir(), 'i2f-integration-profile-'));
cpSync('examples', workspace, { recursive: true });
try {
  const r = spawnSync(process.execPath, ['node_modules/@vscode/test-cli/out/bin.mjs', '--config', 'test/integration/.vscode-test.mjs'], {
    stdio: 'inherit', env: { ...process.env, I2F_INTEGRATION_WORKSPACE: workspace, I2F_INTEGRATION_PROFILE: profile },
  });
  process.exitCode = r.status ?? 1;
} finally {
  rmSync(workspace, { recursive: true, force: true });
  rmSync(profile, { recursive: true, force: true });
}
