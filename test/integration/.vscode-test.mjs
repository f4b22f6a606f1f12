// @vscode/test-cli: the integration suite in the real extension host, which code-server provides through the
// stand-in `code` executable tools/e2e/code-stand-in.mjs. tools/e2e/integration.mjs bundles the tests and sets
// I2F_INTEGRATION_WORKSPACE (a temp copy of examples/).
import { defineConfig } from '@vscode/test-cli';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('../..', import.meta.url));
export default defineConfig({
  label: 'integration',
  files: "../../dist/test/integration/**/*.test.js",
  extensionDevelopmentPath: repo,
  workspaceFolder: process.env.I2F_INTEGRATION_WORKSPACE,
  // Profile folders in the temp dir integration.mjs made (test-electron would otherwise use ./.vscode-test/).
  launchArgs: [`--user-data-dir=${process.env.I2F_INTEGRATION_PROFILE}/user-data`, `--extensions-dir=${process.env.I2F_INTEGRATION_PROFILE}/extensions`],
  useInstallation: { fromPath: `${repo}tools/e2e/code-stand-in.mjs` },
  mocha: { ui: 'bdd', timeout: 120_000, color: false },
});
