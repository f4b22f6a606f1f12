// Extra files the protocol tests add to their copy of examples/: a DP-SGD config on the MLP (fast to analyse),
// broken configs, a corrupt model and a model with an unsupported op.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeModel, encodeModel } from '../../server/src/backends/onnx/onnxProto';

/** DP-SGD on the MLP: max_grad_norm is structural (a new analysis), noise_multiplier only rescales noise. */
export function dpConfig(clip: string, sigma: string): string {
  return [
    '# DP-SGD on the MLP (protocol tests)',
    'training:',
    '  batch_size: 4',
    '  epochs: 1',
    'privacy:',
    `  noise_multiplier: ${sigma}   # sigma`,
    `  max_grad_norm: ${clip}      # C`,
    'i2f:',
    '  model: ../models/mlp.onnx',
    '  samples: ../data/digits.npy',
    '',
  ].join('\n');
}

export function addDpConfig(workspace: string): void {
  mkdirSync(join(workspace, 'dp'), { recursive: true });
  writeFileSync(join(workspace, 'dp/train.yaml'), dpConfig('1.0', '1.0'));
}

export function addBrokenFiles(workspace: string): void {
  const put = (rel: string, text: string | Uint8Array) => {
    mkdirSync(join(workspace, rel, '..'), { recursive: true });
    writeFileSync(join(workspace, rel), text);
  };
  put('broken/yaml/train.yaml', 'privacy:\n  noise_multiplier: [1.0, 2.0\n  max_grad_norm: 1.0\n');
  put('broken/json/config.json', '{\n  "noise_multiplier": 1.0,\n  "max_grad_norm": \n}\n');
  put('broken/toml/pyproject.toml', '[tool.flwr.app.config]\nnoise-multiplier = = 1.0\nclipping-norm = 1.0\n');
  put('broken/missing/train.yaml', 'privacy:\n  noise_multiplier: 1.0\n  max_grad_norm: 1.0\nmodel_path: models/nowhere.onnx\n');
  put('broken/corrupt/model.onnx', Uint8Array.from({ length: 512 }, (_, i) => (i * 131 + 7) & 0xff));
  put('broken/corrupt/train.yaml', 'training:\n  batch_size: 2\nprivacy:\n  noise_multiplier: 1.0\n  max_grad_norm: 1.0\nmodel_path: model.onnx\n');
  // The MLP with its Sigmoid swapped for an op the derivative builder has no rule for.
  const model = decodeModel(readFileSync(join(workspace, 'models/mlp.onnx')), { file: 'mlp.onnx' });
  const node = model.graph.nodes.find((n) => n.opType === 'Sigmoid')!;
  node.opType = 'FusedGelu';
  node.domain = 'com.microsoft';
  put('broken/unsupported/model.onnx', encodeModel(model));
  put('broken/unsupported/train.yaml', 'training:\n  batch_size: 2\nprivacy:\n  noise_multiplier: 1.0\n  max_grad_norm: 1.0\nmodel_path: model.onnx\n');
}
