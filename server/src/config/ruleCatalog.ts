// The stable codes of the cheap config rules, their default severities and the docs/rules.md section for each.

export type RuleSeverity = 'error' | 'warning' | 'information' | 'hint';

export interface RuleInfo {
  code: string;
  title: string;
  severity: RuleSeverity;
}

/**
 * Codes are stable: diagnostics, SARIF output and users' suppressions refer to them. Add new codes at the end;
 * never renumber. I2F0xx are reserved for results of the I²F analysis itself.
 */
export const RULES = {
  syntax: { code: 'I2F100', title: 'Config file cannot be read', severity: 'error' },
  clippingWithoutNoise: { code: 'I2F101', title: 'Clipping without noise', severity: 'warning' },
  noiseMultiplierRange: { code: 'I2F102', title: 'Noise multiplier outside 0.1 to 2', severity: 'warning' },
  deltaTooLarge: { code: 'I2F103', title: 'DP delta not below 1/N', severity: 'warning' },
  microbatchesDivide: { code: 'I2F104', title: 'Microbatches do not divide the batch size', severity: 'error' },
  batchSizeOne: { code: 'I2F105', title: 'Batch size 1', severity: 'warning' },
  batchNormWithDp: { code: 'I2F106', title: 'BatchNorm under per-example DP clipping', severity: 'error' },
  missingModel: { code: 'I2F107', title: 'Model file not found', severity: 'error' },
  invalidValue: { code: 'I2F108', title: 'Value of the wrong type or out of range', severity: 'error' },
  unresolvedReference: { code: 'I2F109', title: 'Interpolation not resolved in this file', severity: 'information' },
  pytorchModel: { code: 'I2F110', title: 'PyTorch checkpoint: weights without an architecture', severity: 'information' },
  defenceNotModelled: { code: 'I2F111', title: 'Defence recognised but not modelled', severity: 'information' },
  serverSideNoise: { code: 'I2F112', title: 'Noise added by the server does not hide updates from it', severity: 'information' },
  dpDisabled: { code: 'I2F113', title: 'DP settings present but DP is disabled', severity: 'warning' },
  runTimeValue: { code: 'I2F114', title: 'Value decided at run time', severity: 'information' },
  noiseInCode: { code: 'I2F115', title: 'Noise set in code', severity: 'information' },
  filterAddsNoNoise: { code: 'I2F116', title: 'Privacy filter adds no noise', severity: 'warning' },
  filterNotOnUpdate: { code: 'I2F117', title: 'Privacy filter does not protect the client update', severity: 'information' },
  deltaAboveLimit: { code: 'I2F118', title: 'DP delta above 1e-3', severity: 'warning' },
  keyNotRead: { code: 'I2F119', title: 'Key the training tool does not read', severity: 'warning' },
  exportedTheta: { code: 'I2F124', title: 'θ renamed or BatchNorm folded at export', severity: 'warning' },
  epsilonAboveThreshold: { code: 'I2F132', title: 'DP epsilon above the threshold', severity: 'warning' },
  targetEpsilonMissed: { code: 'I2F133', title: 'Configured noise does not meet target_epsilon', severity: 'warning' },
  accountingInputMissing: { code: 'I2F134', title: 'DP accounting input missing', severity: 'hint' },
  targetEpsilonUnreachable: { code: 'I2F135', title: 'No noise multiplier meets target_epsilon', severity: 'warning' },
  dpInCode: { code: 'I2F140', title: 'DP set up in Python', severity: 'information' },
  codeValueAtRunTime: { code: 'I2F141', title: 'Python argument set at run time', severity: 'information' },
  configReadByCode: { code: 'I2F142', title: 'Config value read by the DP code', severity: 'information' },
  aggregationInCode: { code: 'I2F143', title: 'Secure aggregation or client-side clipping in Python', severity: 'information' },
  pythonNotRead: { code: 'I2F144', title: 'Python file not read', severity: 'information' },
  notebookNotRead: { code: 'I2F145', title: 'Notebook not read', severity: 'information' },
  scriptWeights: { code: 'I2F150', title: 'Weights loaded by the script', severity: 'information' },
  scriptWeightsNotRead: { code: 'I2F151', title: 'Weights loaded by the script not read', severity: 'warning' },
  pickledModel: { code: 'I2F152', title: 'Whole pickled model loaded', severity: 'warning' },
  lossGivesNoGradient: { code: 'I2F159', title: 'Analysed loss gives no gradient', severity: 'warning' },
  lossNotModelled: { code: 'I2F160', title: 'Training loss not analysed', severity: 'warning' },
  lightningStep: { code: 'I2F163', title: 'LightningModule trains something other than forward', severity: 'warning' },
  noiseBeingDerived: { code: 'I2F167', title: 'Noise being derived from target_epsilon', severity: 'information' },
  noiseNotDerived: { code: 'I2F168', title: 'Noise not derived from target_epsilon', severity: 'information' },
  dpOffByDefault: { code: 'I2F175', title: 'DP call does not run on the script defaults', severity: 'warning' },
  nvflareJob: { code: 'I2F176', title: 'NVFlare job read', severity: 'information' },
} as const satisfies Record<string, RuleInfo>;

export type RuleName = keyof typeof RULES;

export const RULES_DOCUMENT = 'docs/rules.md';

/** GitHub's heading anchor for '## I2F101: Clipping without noise' → 'i2f101-clipping-without-noise'. */
export function ruleAnchor(rule: RuleInfo): string {
  return `${rule.code}: ${rule.title}`
    .toLowerCase()
    .replace(/[^a-z0-9 \-]/g, '')
    .replace(/ /g, '-');
}

/** Repository-relative link to a rule's documentation; the features layer turns it into a codeDescription URL. */
export function ruleDocumentation(rule: RuleInfo): string {
  return `${RULES_DOCUMENT}#${ruleAnchor(rule)}`;
}

export function ruleByCode(code: string): RuleInfo | undefined {
  return Object.values(RULES).find((r) => r.code === code);
}
