// The hover while the I²F solve runs: the latest provisional band (analyzeModel.ts ProvisionalBand), each end graded,
// what is a bound and what an estimate, and what the band leaves out.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hoverAt } from '../../../server/src/features/hover';
import { readTrainingConfig } from '../../../server/src/config/recognise';
import type { TrainingSetup } from '../../../server/src/config/trainingSetup';
import type { ConfigView } from '../../../server/src/features/configView';
import type { ProvisionalBand } from '../../../server/src/analysis/analyzeModel';

const YAML = 'training:\n  batch_size: 1\nprivacy:\n  noise_multiplier: 1.1\n  max_grad_norm: 1.0\ni2f:\n  model: m.onnx\n';

function pendingView(provisional?: ProvisionalBand): ConfigView {
  const setup = readTrainingConfig('/w/train.yaml', YAML, { fileExists: () => true }) as TrainingSetup;
  return {
    uri: 'file:///w/train.yaml', text: YAML, config: { path: '/w/train.yaml', setup, modelSource: 'config' },
    settings: { targetPsnr: 15 }, pending: true, ...(provisional ? { provisional } : {}),
  } as unknown as ConfigView;
}

const band = (settled: boolean, unbounded = false): ProvisionalBand => ({
  batch: 0, batches: 1, stage: 'solve-noise', iteration: 12, lambdaMax: 18.2, lowerBound: 1.21, expected: true,
  band: {
    i2f: [1.69, unbounded ? Infinity : 2.71], psnr: [36.3, unbounded ? -Infinity : 18.2], risk: settled ? ['high', 'high'] : ['high', 'medium'],
    settled, upperCertified: false, unbounded, omits: 'T from 1 of 2 trace probes; their sampling spread is not in the band',
  },
});

const textAt = (view: ConfigView) => {
  const h = hoverAt(view, { line: 3, character: 4 }); // on noise_multiplier
  assert.ok(h);
  return (h.contents as { value: string }).value;
};

test('while the solve runs the hover shows the band, its graded PSNR ends, λmax and I_lb', () => {
  const text = textAt(pendingView(band(false)));
  for (const part of [
    '**Risk so far: HIGH (provisional: the band spans HIGH to MEDIUM, graded on its conservative end)**',
    '_Analysis running: solve-noise iteration 12._',
    '| Expected I²F (band from the CG iterates) | 1.69 … 2.71 (lower end a bound, upper end an estimate) |',
    '| Graded PSNR band | 36.3–18.2 dB (straddles a threshold: graded on the conservative end) |',
    '| Not in the band | T from 1 of 2 trace probes; their sampling spread is not in the band |',
    '| λmax(J Jᵀ) | 18.2 |', '| Lower bound I_lb | 1.21 |',
  ]) assert.ok(text.includes(part), `hover has '${part}':\n${text}`);
});

test('an unbounded band shows only its conservative end; without a band the hover says the analysis runs', () => {
  const text = textAt(pendingView(band(false, true)));
  assert.ok(text.includes('| Expected I²F (band from the CG iterates) | ≥ 1.69 (no upper end yet) |'), text);
  assert.ok(text.includes('| Graded PSNR band | ≤ 36.3 dB'), text);
  assert.ok(textAt(pendingView()).includes('_Analysis running…_'));
});
