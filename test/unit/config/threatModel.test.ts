// Who the finding is about: the attackers a config allows, the one chosen, and the noise each faces.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readTrainingConfig } from '../../../server/src/config/recognise';
import { analysisPlan } from '../../../server/src/config/defences';
import { checkTrainingSetup } from '../../../server/src/config/rules';
import { describeAttacker } from '../../../server/src/config/threatModel';
import type { TrainingSetup } from '../../../server/src/config/trainingSetup';

const setupOf = (text: string, file = '/w/pyproject.toml') => readTrainingConfig(file, text, { fileExists: () => true }) as TrainingSetup;
const FLOWER = '[tool.flwr.app.config]\nnoise-multiplier = 1.0\nclipping-norm = 2.0\nnum-sampled-clients = 4\n';

test('an eavesdropper on the link sees the update as sent (the client-side defences only)', () => {
  const p = analysisPlan(setupOf(`${FLOWER}\n[tool.i2f]\nattacker = "eavesdropper"\n`));
  assert.equal(p.threat.chosen.attacker, 'eavesdropper');
  assert.deepEqual(p.defences, []);
  assert.match(describeAttacker(p.threat.chosen), /^an eavesdropper on the client's link, who reads the update on the client's link as sent, unless the link is encrypted$/);
});

test('under secure aggregation the eavesdropper sees only masked shares, so naming it falls back to the server, and says so', () => {
  const p = analysisPlan(setupOf(`${FLOWER}num-shares = 3\nreconstruction-threshold = 2\n\n[tool.i2f]\nattacker = "eavesdropper"\n`));
  assert.equal(p.threat.chosen.attacker, 'server');
  assert.match(p.threat.reason, /names one that sees nothing to invert/);
  assert.match(p.threat.chosen.sees, /sum of the clients' updates \(secure aggregation: 'tool\.flwr\.app\.config\.num-shares'\), before it adds its own noise/);
});

test('an attacker the product does not know is a located I2F108, and the default applies', () => {
  const s = setupOf(`${FLOWER}\n[tool.i2f]\nattacker = "government"\n`);
  assert.equal(s.attacker, undefined);
  assert.deepEqual(checkTrainingSetup(s).filter((f) => f.code === 'I2F108').map((f) => f.range.start.line), [6]);
  assert.equal(analysisPlan(s).threat.chosen.attacker, 'server');
});

test('client-side noise is seen by every attacker; the server noise only by an observer of the aggregate, after it', () => {
  // FLSim-style: DP-SGD in the client and user-level DP on the server in one file.
  const text = JSON.stringify({ trainer: { client: { privacy_setting: { noise_multiplier: 1.0, clipping_value: 1.0 } }, server: { privacy_setting: { noise_multiplier: 0.5, clipping_value: 4.0 } }, users_per_round: 8 } }, null, 2);
  const p = analysisPlan(setupOf(text, '/w/flsim.json'));
  assert.deepEqual(p.defences.map((d) => d.spec), ['dpsgd:clip=1,noise=1']);
  const agg = p.threat.others.find((v) => v.attacker === 'aggregate')!;
  assert.deepEqual(agg.defences.map((d) => d.spec), ['dpsgd:clip=1,noise=1', 'gaussian:std=2'], 'client DP-SGD, then σ·C = 0.5·4 on the share');
  assert.deepEqual(p.threat.others.find((v) => v.attacker === 'eavesdropper')!.defences.map((d) => d.spec), ['dpsgd:clip=1,noise=1']);
});

test('FedML cdp without a client count: sigma on one share (the cautious side), and the note says the count is unknown', () => {
  const text = 'train_args:\n  batch_size: 10\ndp_args:\n  enable_dp: true\n  dp_solution_type: cdp\n  epsilon: 1\n  delta: 1.0e-5\n  sensitivity: 1\n  mechanism_type: gaussian\n';
  const p = analysisPlan(setupOf(text, '/w/fedml_config.yaml'));
  const central = p.threat.others.find((v) => v.attacker === 'aggregate')!.defences[0];
  assert.ok(Math.abs(Number(central.spec.split('=')[1]) - Math.sqrt(2 * Math.log(1.25e5))) < 1e-9);
  assert.match(central.note ?? '', /client count unknown/);
});
