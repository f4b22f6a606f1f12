// `i2f privacy` as a process (the BUILT dist/cli.js): the command, its JSON shape, the inverses, and usage errors.

import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { ensureBuilt, runCli } from './helpers';
import { rdpEpsilon } from '../../server/src/privacy/rdpAccountant';

describe('i2f privacy', () => {
  before(() => ensureBuilt());

  test('Opacus’s MNIST run: the RDP ε, with how steps and q were derived', async () => {
    const r = await runCli(['privacy', '--noise-multiplier', '1.1', '--batch', '256', '--dataset-size', '60000', '--epochs', '60', '--delta', '1e-5', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    for (const k of ['accountant', 'epsilon', 'delta', 'order', 'steps', 'sampleRate', 'noiseMultiplier']) assert.ok(k in j, `has ${k}`);
    const truth = rdpEpsilon({ sampleRate: 256 / 60000, noiseMultiplier: 1.1, steps: 14100 }, 1e-5);
    assert.deepEqual([j.accountant, j.epsilon, j.delta, j.order, j.steps, j.sampleRate, j.noiseMultiplier], ['rdp', truth.epsilon, 1e-5, truth.order, 14100, 256 / 60000, 1.1]);
    assert.match(j.derivation.steps, /60 epochs × ⌈60000 \/ 256⌉ = 14100/);
    assert.match(j.derivation.sampleRate, /256 \/ 60000/);
    const text = await runCli(['privacy', '--noise-multiplier', '1.1', '--batch', '256', '--dataset-size', '60000', '--epochs', '60']);
    assert.match(text.stdout, /^ε = 2\.600\d* at δ = 1e-5 \(RDP accountant, order 8\.1, 14100 steps/m);
    assert.match(text.stdout, /1\/60000 rounded down to a power of ten/, 'the default δ says so');
  });

  test('--target-epsilon prints the noise multiplier instead; with --noise-multiplier, the steps and epochs the budget allows', async () => {
    const r = await runCli(['privacy', '--target-epsilon', '3', '--sample-rate', '0.01', '--steps', '5000', '--delta', '1e-5', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    const back = rdpEpsilon({ sampleRate: 0.01, noiseMultiplier: j.noiseMultiplier, steps: 5000 }, 1e-5).epsilon;
    assert.ok(Math.abs(back - 3) / 3 <= 1e-6 && back <= 3, `ε at the σ printed: ${back}`);
    const b = await runCli(['privacy', '--target-epsilon', '3', '--noise-multiplier', '1.1', '--batch', '256', '--dataset-size', '60000', '--delta', '1e-5', '--json']);
    const budget = JSON.parse(b.stdout);
    assert.equal(budget.stepsPerEpoch, 235);
    const at = (t: number) => rdpEpsilon({ sampleRate: 256 / 60000, noiseMultiplier: 1.1, steps: t }, 1e-5).epsilon;
    assert.ok(at(budget.steps) <= 3 && at(budget.steps + 1) > 3);
    assert.equal(budget.epochs, Math.floor(budget.steps / 235));
  });

  test('an unreachable target exits 1 and says why; bad input exits 2 with a message', async () => {
    const r = await runCli(['privacy', '--target-epsilon', '0.01', '--sample-rate', '0.01', '--steps', '100', '--delta', '1e-5']);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /No noise multiplier meets ε 0\.01/);
    for (const args of [['--noise-multiplier', 'x', '--sample-rate', '0.1', '--steps', '1', '--delta', '1e-5'], ['--noise-multiplier', '1', '--sample-rate', '2', '--steps', '1', '--delta', '1e-5'], ['--noise-multiplier', '1', '--steps', '10', '--delta', '1e-5'], ['--noise-multiplier', '1', '--sample-rate', '0.1', '--steps', '10']]) {
      const bad = await runCli(['privacy', ...args]);
      assert.equal(bad.code, 2, args.join(' '));
      assert.match(bad.stderr, /^i2f: /);
    }
  });
});
