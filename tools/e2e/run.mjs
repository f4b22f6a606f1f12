// `npm run test:e2e`: the tests that need a real editor, from nothing. Steps, each named with its reason when it
// fails: the Debian packages and the tools (tools/e2e/install.sh: chromium, neovim and code-server's build
// dependencies, installed as root; Node 24; code-server built under Node 24), the .vsix (tools/package.mjs), then
// test/e2e (code-server + Chromium, neovim) and the @vscode/test-cli integration suite in the real extension host
// (tools/e2e/integration.mjs). Closes with `N passed, N failed, N skipped`. `npm test` runs the same steps
// (tools/test.mjs) when CI=true, as root, or once code-server is installed.
import { homedir } from 'node:os';
import { join } from 'node:path';
import { findTestFiles, runNodeTests } from '../testing/nodeTests.mjs';
import { countIntegrationTests, runIntegration, step } from '../testing/steps.mjs';
import { Tally } from '../testing/tally.mjs';

const tools = process.env.I2F_E2E_TOOLS ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'i2f-e2e');
const env = { ...process.env, I2F_E2E_TOOLS: tools };
const tally = new Tally();
if (step(tally, 'editor tools (Debian packages, Node 24, code-server)', 'bash', ['tools/e2e/install.sh'], { env })
  && step(tally, 'package the .vsix', process.execPath, ['tools/package.mjs'], { env })) {
  await runNodeTests(findTestFiles(['test/e2e']), { tally, env });
  await runIntegration(tally, env);
} else {
  tally.skip('the editor tests: a step above failed (it says why)', 'test/e2e + test/integration', findTestFiles(['test/e2e']).length + countIntegrationTests());
}
console.log(tally.closing());
process.exit(tally.failed ? 1 : 0);
