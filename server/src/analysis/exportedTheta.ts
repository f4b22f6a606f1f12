// Recognises a model whose θ is not the parameters training shares: torch.onnx.export with its defaults (eval mode,
// constant folding) folds BatchNorm into the convolutions and names the fused weights `onnx::Conv_193`, and may
// rename others (`onnx::MatMul_12`, a pre-transposed Linear weight). The analysis of such a θ answers a question about
// a model nobody trains, and a state_dict of the real parameters cannot be applied to it (issue 14, item 4).

import { RULES, ruleDocumentation } from '../config/ruleCatalog';
import type { DiscoveredConfig } from '../workspace/discover';
import type { Finding } from './configFindings';

export const REEXPORT = 'torch.onnx.export(model, x, "model.onnx", training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)';

/** What the θ names say about the export, or undefined when every parameter kept its PyTorch name. */
export function exportedThetaNote(theta: readonly string[], ops?: readonly string[]): string | undefined {
  const renamed = theta.filter((n) => n.startsWith('onnx::'));
  if (!renamed.length) return undefined;
  const shown = renamed.slice(0, 3).map((n) => `\`${n}\``).join(', ') + (renamed.length > 3 ? ', …' : '');
  const convs = renamed.filter((n) => /^onnx::Conv_/.test(n)).length;
  const folded = convs > 0 && ops !== undefined && !ops.includes('BatchNormalization');
  const what = folded
    ? `${renamed.length} of the model's ${theta.length} parameters are named by the exporter (${shown}) and the graph has no BatchNormalization node: BatchNorm was folded into the convolutions at export (torch.onnx.export's default in eval mode), so θ here is not the parameters training shares and the prediction is about a different model`
    : `${renamed.length} of the model's ${theta.length} parameters are named by the exporter (${shown}): θ was rewritten at export, so it may not be the parameters training shares`;
  return `${what}; a state_dict or safetensors checkpoint keyed by the real names cannot be applied to it. Re-export with ${REEXPORT}, or name the architecture (model: resnet18) or the Python model (i2f: model: "pkg.module:Net") so the catalogue or the export bridge writes the graph with the real parameters.`;
}

/** The I2F124 finding of a config whose analysed model has exporter-renamed θ, on its model line. */
export function exportedThetaFinding(config: DiscoveredConfig, theta: readonly string[], ops?: readonly string[]): Finding | undefined {
  const note = exportedThetaNote(theta, ops);
  if (!note) return undefined;
  const anchor = config.setup.model ?? config.setup.architecture;
  const rule = RULES.exportedTheta;
  return {
    code: rule.code,
    severity: rule.severity,
    message: note.charAt(0).toUpperCase() + note.slice(1),
    file: config.path,
    range: anchor?.valueRange ?? { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } },
    documentation: ruleDocumentation(rule),
    ...(anchor ? { key: anchor.key } : {}),
  };
}
