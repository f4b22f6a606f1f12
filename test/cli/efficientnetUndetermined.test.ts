// A real torchvision EfficientNet-B0 at initialisation, exported by PyTorch (tools/fixtures/efficientnet_b0_export.py,
// generated here: ~20 MB, not committed), through `i2f analyze`: its gradient determines essentially none of the input
// (λmax(J Jᵀ) ≈ 1e-26 at 32×32, PyTorch float64 power iteration), so the finding must say so and grade the box's worst
// case. Before issue 15 the authors' damping (ε = 1) gave HIGH with I²F 1e-12 and a "lower bound" of 5e7, and the
// undamped solve spent its 10,000 iterations to stop at residual 0.93.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AnalyzeReport } from '../../server/src/analysis/analyzeModel';
import { formatAnalysisText } from '../../server/src/analysis/formatText';
import { DEBIAN_PYTHON, debianTorch, needing } from '../support/requirements';
import { ensureBuilt, REPO, runCli } from './helpers';

const { before, test } = needing(debianTorch);
const BOX_FLOOR = 20 * Math.log10(2); // RMSE 0.5 on [0, 1]: guessing the box's centre
let dir: string;
let reference: { lambdaMax: number; gNorm: number; parameters: number; label: number };

before(() => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'i2f-efficientnet-'));
  const r = spawnSync(DEBIAN_PYTHON, [join(REPO, 'tools/fixtures/efficientnet_b0_export.py'), dir], { encoding: 'utf8', timeout: 30 * 60_000 });
  assert.equal(r.status, 0, r.stderr);
  reference = JSON.parse(readFileSync(join(dir, 'reference.json'), 'utf8'));
});

async function analyze(damping: number): Promise<AnalyzeReport> {
  const r = await runCli(['analyze', join(dir, 'efficientnet_b0.onnx'), '--data', join(dir, 'x.npy'), '--defense', 'gaussian:std=0.001', '--damping', String(damping), '--json']);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

for (const damping of [1, 0]) {
  test(`EfficientNet-B0 at initialisation, ε = ${damping}: nothing determined, LOW at the box's worst case, no bound or solve presented as a result`, { timeout: 40 * 60_000 }, async () => {
    const report = await analyze(damping);
    assert.equal(report.model.parameters, reference.parameters, 'θ = named_parameters (BatchNorm kept at export)');
    const b = report.results[0];
    assert.deepEqual(b.labels, [reference.label], 'the model\'s own prediction, as the reference');
    // The engine's λmax against PyTorch's own float64 double-backward power iteration (independent products).
    assert.ok(Math.abs(b.lambdaMax - reference.lambdaMax) <= 1e-2 * reference.lambdaMax, `λmax ${b.lambdaMax} vs PyTorch ${reference.lambdaMax}`);
    assert.ok(Math.abs(b.gradientNorm - reference.gNorm) <= 1e-4 * reference.gNorm, `‖g‖ ${b.gradientNorm} vs ${reference.gNorm}`);
    const v = b.validity!;
    assert.equal(v.determined, 'none');
    assert.equal(v.determinedShare, 0);
    assert.ok(v.sensitivity <= v.resolution, `√λmax·range·√d_x ${v.sensitivity} ≤ 2⁻²⁴‖g‖ ${v.resolution}`);
    assert.equal(b.risk, 'low', 'not HIGH, and no confident number either way');
    assert.equal(b.expectedRmse, 0.5);
    assert.ok(Math.abs(b.expectedPsnr - BOX_FLOOR) < 1e-9 && Math.abs(v.gradedPsnr - BOX_FLOOR) < 1e-9, `shown ${b.expectedPsnr}, graded ${v.gradedPsnr}`);
    for (const s of b.perSample) assert.equal(s.rmse, 0.5);
    // The damped "lower bound" is ‖Jδ‖/(λmax + ε): never the 5e7 that ‖Jδ‖/λmax gave; the undamped solve is not run
    // to its budget (one iteration per solve), and nothing above comes from it.
    if (damping > 0) assert.ok(b.lowerBound <= b.jDeltaNorm / damping * (1 + 1e-12), `I_lb ${b.lowerBound}`);
    assert.ok(b.solver.iterations <= 1, `${b.solver.iterations} iterations`);
    // `i2f analyze`'s text says it before any number, and calls the I²F what it is.
    const text = formatAnalysisText(report);
    assert.match(text, /nothing determined: moving x across its whole box changes g by at most .*; the attacker can only guess inside the box, and the I²F below is not a result/);
    assert.match(text, /raw \(not a result\) I²F/);
    assert.match(text, /risk: LOW/);
    assert.doesNotMatch(text, /graded on (?!6\.02)/);
  });
}
