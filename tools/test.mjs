// `npm test`: every suite, on a machine that may have nothing but Node and npm. Its steps, each named when it fails:
//  1. prerequisites: the Debian packages the tests run (tools/testing/prerequisites.mjs), installed when root with
//     apt-get (CI); otherwise the tests that need a missing one are skipped, counted and listed at the end with the
//     command that enables them;
//  2. build and type-check;
//  3. node:test over test/unit, test/protocol, test/robustness, test/webview, test/cli (per-test watchdog:
//     tools/testing/nodeTests.mjs);
//  4. the editor tests, when CI=true, when root with apt-get, or once code-server is installed (I2F_TEST_EDITOR=0:
//     never): Node 24 + code-server (tools/e2e/install.sh), the .vsix, test/e2e (code-server + Chromium, neovim)
//     and the integration suite in the extension host. Otherwise test/e2e runs what needs no code-server (neovim)
//     and the rest is counted skipped with `npm run test:e2e`, which installs code-server and runs them.
// The last line is `N passed, N failed, N skipped`. `npm test -- FOLDER…` runs steps 1–3 on those folders only.
import { canInstall, ensurePackages, installCommand, NEEDS, PACKAGES } from './testing/prerequisites.mjs';
import { findTestFiles, runNodeTests } from './testing/nodeTests.mjs';
import { countIntegrationTests, runIntegration, step } from './testing/steps.mjs';
import { Tally } from './testing/tally.mjs';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

const only = process.argv.slice(2);
const tally = new Tally();
const tools = process.env.I2F_E2E_TOOLS ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'i2f-e2e');
const codeServerInstalled = existsSync(join(tools, 'code-server/node_modules/code-server/out/node/entry.js'));
const editor = !only.length && process.env.I2F_TEST_EDITOR !== '0' && (process.env.CI === 'true' || canInstall() || codeServerInstalled);
const finish = () => {
  console.log(tally.closing());
  process.exit(tally.failed ? 1 : 0);
};

// 1. The Debian packages, before anything long: the build tools code-server needs too when the editor tests run.
const wanted = [...new Set([...NEEDS.tests, ...(editor ? NEEDS.editor : [])])];
const { missing, error } = ensurePackages(wanted, (s) => console.log(s));
if (error) tally.stepFailed('prerequisites', error);
if (missing.length) {
  console.log(`\nMissing Debian packages (the tests that need them are skipped and counted): ${missing.map((n) => `${n} — ${PACKAGES[n].for}`).join('; ')}`);
  console.log(`Install them: ${installCommand(missing)}${canInstall() ? '' : ' (or run npm test as root, which installs them)'}`);
}

// 2. Build and type-check: nothing else means anything without them.
if (!step(tally, 'build', process.execPath, ['tools/build.mjs'])) finish();
if (!step(tally, 'type-check', process.execPath, ['node_modules/typescript/bin/tsc', '--noEmit', '-p', '.'])) finish();

// 3. The suites on the development build.
const suites = only.length ? only : ['test/unit', 'test/protocol', 'test/robustness', 'test/webview', 'test/cli'];
if (!editor && !only.length) suites.push('test/e2e'); // what needs no code-server runs (neovim); the rest is counted skipped
await runNodeTests(findTestFiles(suites), { tally, env: { ...process.env, I2F_E2E_TOOLS: tools } });

// 4. The editor tests.
if (only.length) finish();
const integrationTests = countIntegrationTests();
const enableEditor = 'npm run test:e2e (installs Node 24 and code-server, then runs the editor tests)';
if (editor) {
  const env = { ...process.env, I2F_E2E_TOOLS: tools };
  const ready = step(tally, 'editor tools (Node 24 + code-server)', 'bash', ['tools/e2e/install.sh'], { env })
    && step(tally, 'package the .vsix', process.execPath, ['tools/package.mjs'], { env });
  // Without the tools, test/e2e still runs what needs none of them (neovim) and skips the rest by itself.
  await runNodeTests(findTestFiles(['test/e2e']), { tally, env });
  if (ready) await runIntegration(tally, env);
  else tally.skip('the integration suite (counted in its source): the editor tools or the .vsix did not install (the failed step above says why)', 'test/integration', integrationTests);
} else {
  const why = process.env.I2F_TEST_EDITOR === '0' ? 'I2F_TEST_EDITOR=0' : `code-server is not installed in ${tools}`;
  tally.skip(`the integration suite in VS Code's extension host (counted in its source): ${why}`, 'test/integration', integrationTests, enableEditor);
}
finish();
