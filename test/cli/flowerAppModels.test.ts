// `i2f audit` on Flower's examples as published (test/fixtures/upstream-python/adap+flower/examples, unchanged) with
// Debian's /usr/bin/python3: the model each app's client module builds, with the arguments it passes from the run
// config, analysed for its pyproject.toml and for the DP / secure-aggregation call sites in its .py files alike.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { debianTorch } from '../support/requirements';
import { auditWithPython, ensureBuilt, REPO } from './helpers';

const EXAMPLES = join(REPO, 'test', 'fixtures', 'upstream-python', 'adap+flower', 'examples');

function copyOf(example: string): string {
  const dir = mkdtempSync(join(tmpdir(), `i2f-${example}-`));
  cpSync(join(EXAMPLES, example), dir, { recursive: true });
  return dir;
}

test("flower-secure-aggregation: the secaggplus_mod and SecAggPlusWorkflow call sites analyse the app's Net, as its pyproject.toml does, against the same attacker", { timeout: 10 * 60_000, skip: debianTorch.skip }, async () => {
  ensureBuilt();
  const ws = copyOf('flower-secure-aggregation');
  const { config, findings, lineOf } = await auditWithPython(ws, 'i2f-secagg-cache-');
  const app = config('pyproject.toml');
  assert.equal(app.status, 'analysed');
  for (const [file, line, call] of [['secaggexample/client_app.py', 89, /secaggplus_mod/], ['secaggexample/server_app.py', 71, /SecAggPlusWorkflow\(/]] as const) {
    const c = config(file);
    // The same analysis: the audit's cache answers it after the pyproject.toml's (or the other way round).
    assert.ok(['analysed', 'cached'].includes(c.status), `${file}: ${JSON.stringify(c)}`);
    assert.equal(c.cacheKey, app.cacheKey);
    // The same model and numbers as the pyproject.toml's analysis (one exported Net).
    assert.equal(c.leakage.parameters, app.leakage.parameters);
    assert.equal(c.leakage.parameters, 62006);
    assert.equal(c.leakage.batches[0].lambdaMax, app.leakage.batches[0].lambdaMax);
    const [leak] = findings(file, 'I2F001');
    assert.ok(leak, `${file} has its leakage finding`);
    assert.equal(leak.line, line);
    assert.match(lineOf(file, leak.line), call);
    assert.match(leak.message, /secaggexample\.task:Net built by \/usr\/bin\/python3/);
    assert.match(leak.message, /found from the Flower app \(secaggexample\.client_app instantiates Net\)/);
    // The attacker is unchanged: the server, with the other clients' updates not counted as protection.
    assert.match(leak.message, /Attacker: The curious server, which sees the sum of the clients' updates \(secure aggregation: '[^']+'\); the other clients' updates are not counted as protection/);
    assert.doesNotMatch(JSON.stringify(c), /not found as a module:Class/);
  }
});
