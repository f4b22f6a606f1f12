// `i2f audit --fail-on high` on the public configs committed unchanged under test/fixtures/public (their sources and
// licences: its README): none is misread into a failure (the only failures are honest leakage verdicts); and
// `--help` is an answer, not a usage error.

import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureBuilt, REPO, runCli, workspace } from './helpers';

const PUBLIC = join(REPO, 'test/fixtures/public');

before(() => ensureBuilt());

test('i2f audit --fail-on high on the public configs: no config is misread into a failure; only central DP fails, against the server', { timeout: 300_000 }, async () => {
  const r = await runCli(['audit', PUBLIC, '--fail-on', 'high', '--format', 'json', '--no-cache']);
  const doc = JSON.parse(r.stdout);
  const root = doc.roots[0];
  // 19 config files and the 3 Flower Python files that set up DP (opacus' client_app.py; fl-dp-sa's server and client apps).
  assert.equal(root.configs.length, 22, root.configs.map((c: { file: string }) => c.file).join('\n'));
  // Flower's opacus app: its noise is set in client_app.py, so the pyproject's max-grad-norm points there (I2F142).
  const opacus = root.findings.filter((f: { file: string }) => f.file === 'flower/opacus/pyproject.toml').map((f: { code: string }) => f.code);
  assert.ok(opacus.includes('I2F142') && !opacus.includes('I2F101'), opacus.join(' '));
  assert.ok(root.findings.some((f: { file: string; code: string }) => f.file === 'flower/opacus/opacus_fl/client_app.py' && f.code === 'I2F140'));
  assert.ok(!root.findings.some((f: { code: string }) => f.code === 'I2F108'), 'no placeholder is a type error');
  assert.ok(!root.findings.some((f: { message: string }) => f.message.includes(REPO)), 'no absolute path in a message');
  // The config rules never fail the build on these valid files: every failure is a leakage verdict (I2F001).
  const failing = root.findings.filter((f: { severity: string; risk?: string }) => f.severity === 'error' || f.risk === 'high' || f.risk === 'uncertain');
  for (const f of failing) assert.equal(f.code, 'I2F001', `${f.file}: ${f.code} ${f.message}`);
  // FedML's `model: lr` is analysed from the architecture catalogue. Central DP ('cdp', and `dp_type: cdp`) adds its
  // noise after the server has each update: against the curious server nothing protects it, which is HIGH and
  // fails CI honestly; local DP (ldp, NbAFL) is LOW. Nothing else fails.
  const central = [
    'fedml/privacy/mqtt_s3_fedavg_cdp_mnist_lr_example/config/fedml_config.yaml',
    'fedml/simulation/mpi_torch_fedavg_dp_mnist_lr_example/config/fedml_config.yaml',
    'fedml/simulation/sp_torch_dpfedavg_mnist_lr_example/config/fedml_config.yaml',
  ];
  assert.deepEqual(failing.map((f: { file: string }) => f.file).sort(), central);
  for (const f of failing) {
    assert.match(f.message, /Leakage risk HIGH: under no defence/);
    assert.match(f.message, /Attacker: The curious server, which receives each client's update as sent \(no secure aggregation in this config\), before it adds its own noise/);
    assert.match(f.message, /Not seen by this attacker: gaussian:std=[\d.]+/);
    // The attacker who does face the server's noise, and how to grade that one instead, in the config's own syntax.
    assert.match(f.message, /An observer of the aggregate faces it \(gaussian:std=[\d.]+ on one client's share\); for a deployment that trusts its server, i2f: \{ attacker: "aggregate" \} grades that attacker instead\./);
  }
  for (const local of ['fedml/privacy/mqtt_s3_fedavg_ldp_mnist_lr_example/config/fedml_config.yaml', 'fedml/privacy/mpi_fedavg_dp_mnist_lr_example/config/nbafl/fedml_config.yaml']) {
    assert.equal(root.findings.find((f: { file: string; code: string }) => f.file === local && f.code === 'I2F001')?.risk, 'low', local);
  }
  assert.equal(r.code, 1, 'the three central-DP verdicts fail --fail-on high');
});

test('FedML cdp with `i2f: { attacker: aggregate }`: the finding is about the observer of the aggregate, who faces n·σ on one client\'s update', { timeout: 300_000 }, async () => {
  const src = join(PUBLIC, 'fedml/privacy/mqtt_s3_fedavg_cdp_mnist_lr_example/config/fedml_config.yaml');
  const dir = workspace({ 'fedml_config.yaml': `${readFileSync(src, 'utf8')}\ni2f:\n  attacker: aggregate\n` });
  const r = await runCli(['audit', dir, '--fail-on', 'high', '--format', 'json', '--no-cache']);
  const doc = JSON.parse(r.stdout);
  const f = doc.roots[0].findings.find((x: { code: string }) => x.code === 'I2F001');
  assert.match(f.message, /under gaussian:std=8\.99, /);
  assert.match(f.message, /Attacker: An observer of the aggregate, who sees the aggregate with the server's noise \(gaussian:std=8\.99 on one client's share\)[^.]*\(named in 'i2f\.attacker'\)/);
  assert.doesNotMatch(f.message, /Not seen by this attacker/);
  assert.notEqual(f.risk, 'high');
  assert.equal(r.code, 0, 'nothing fails --fail-on high against the aggregate observer');
});

test('i2f audit --help (and analyze -h, attack --help) print the usage and exit 0', { timeout: 60_000 }, async () => {
  for (const args of [['audit', '--help'], ['analyze', '-h'], ['attack', '--help']]) {
    const r = await runCli(args);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stdout, /^i2f — /);
    assert.match(r.stdout, /i2f audit \[PATH…\]/);
  }
});
