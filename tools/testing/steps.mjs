// The steps `npm test` (tools/test.mjs) and `npm run test:e2e` (tools/e2e/run.mjs) share: a command run as a named
// step whose failure is counted and said, the editor tools, the .vsix, and the integration suite (mocha in
// code-server's extension host, through @vscode/test-cli), whose counts are read from its report.
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Runs `cmd args` with the output shown; a non-zero exit is a failed step in `tally`.
 * @returns {boolean} whether it succeeded
 */
export function step(tally, name, cmd, args, { env = process.env, why = '' } = {}) {
  console.log(`\n▶ ${name}: ${[cmd, ...args].join(' ')}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', env });
  if (r.status === 0) return true;
  tally.stepFailed(name, `${[cmd, ...args].join(' ')} exited ${r.status ?? r.signal}${r.error ? ` (${r.error.message})` : ''}${why ? `: ${why}` : ''}`);
  return false;
}

/** The integration suite's tests, counted in its sources (mocha's `it(` calls): what a skip of the suite skips. */
export function countIntegrationTests() {
  const dir = 'test/integration';
  return readdirSync(dir).filter((f) => f.endsWith('.test.ts'))
    .reduce((n, f) => n + (readFileSync(join(dir, f), 'utf8').match(/^\s*it\(/gm)?.length ?? 0), 0);
}

/**
 * Runs the integration suite (tools/e2e/integration.mjs) and adds mocha's counts to `tally` (its spec report's
 * "N passing", "N failing", "N pending" lines; pending tests are skipped ones).
 */
export function runIntegration(tally, env = process.env) {
  console.log('\n▶ integration suite in the extension host: node tools/e2e/integration.mjs');
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['tools/e2e/integration.mjs'], { stdio: ['ignore', 'pipe', 'inherit'], env });
    let out = '';
    child.stdout.on('data', (b) => { process.stdout.write(b); out += b; });
    child.on('close', (code, signal) => {
      const n = (word) => Number(out.match(new RegExp(`^\\s*(\\d+) ${word}\\b`, 'm'))?.[1] ?? 0);
      const [passing, failing, pending] = [n('passing'), n('failing'), n('pending')];
      tally.passed += passing;
      tally.failed += failing;
      if (pending) tally.skip('pending in the integration suite (it.skip)', 'test/integration', pending);
      if (code !== 0 && failing === 0) tally.stepFailed('integration suite', `tools/e2e/integration.mjs exited ${code ?? signal} before mocha reported a failure`);
      if (code === 0 && passing === 0) tally.stepFailed('integration suite', 'mocha ran no test');
      resolve();
    });
  });
}
