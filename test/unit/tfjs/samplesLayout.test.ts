// A TensorFlow.js model takes its .npy samples channels-last, as TensorFlow users hold them ([N, H, W, C]), and still
// takes the internal channels-first [N, C, H, W]: both give the same samples, and the analysis the same numbers.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OnnxModel } from '../../../server/src/backends/onnx/onnxModel';
import { loadSamples } from '../../../server/src/analysis/inputs';
import { analyzeModel } from '../../../server/src/analysis/analyzeModel';
import { writeNpy } from '../../../server/src/formats/npy';

const MODEL = join(__dirname, '../../fixtures/tfjs/dlg_lenet/model.json');

test('a tfjs model reads [N, H, W, C] samples as TensorFlow lays them out, and [N, C, H, W] as before', async () => {
  const model = await OnnxModel.open(MODEL);
  const [c, h, w] = model.sampleDims;
  assert.ok(c !== h, 'a model whose two layouts cannot be confused');
  const n = 2;
  const nchw = Float32Array.from({ length: n * c * h * w }, (_, i) => ((i * 7919) % 1000) / 1000);
  const nhwc = new Float32Array(nchw.length);
  for (let i = 0; i < n; i++) for (let k = 0; k < c; k++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) nhwc[((i * h + y) * w + x) * c + k] = nchw[((i * c + k) * h + y) * w + x];
  const dir = mkdtempSync(join(tmpdir(), 'i2f-nhwc-'));
  writeFileSync(join(dir, 'nchw.npy'), writeNpy({ dtype: 'float32', dims: [n, c, h, w], data: nchw }));
  writeFileSync(join(dir, 'nhwc.npy'), writeNpy({ dtype: 'float32', dims: [n, h, w, c], data: nhwc }));
  const a = await loadSamples(model, join(dir, 'nchw.npy'), n, 0);
  const b = await loadSamples(model, join(dir, 'nhwc.npy'), n, 0);
  assert.deepEqual([...b.data], [...a.data]);
  assert.equal(b.count, n);
  const one = { defences: ['gaussian:std=1e-3'], damping: 0, spectrumK: 0, seed: 0, loss: 'cross-entropy' as const, maxIterations: 50, labels: '1,3' };
  const ra = await analyzeModel({ ...one, model: MODEL, data: join(dir, 'nchw.npy'), batch: 2 });
  const rb = await analyzeModel({ ...one, model: MODEL, data: join(dir, 'nhwc.npy'), batch: 2 });
  assert.equal(rb.results[0].gradientNorm, ra.results[0].gradientNorm);
  assert.equal(rb.results[0].i2f, ra.results[0].i2f);
});
