// Findings for one training config: the cheap rules (instant) plus the I²F leakage analysis of the model it
// names, under the defence its keys configure. The CLI audit and the language server both report these.

import { AT_INITIALISATION } from '../models/materialise';
import { existsSync } from 'node:fs';
import { dirname, extname, relative, sep } from 'node:path';
import { tmpdir } from 'node:os';
import type { Range } from '../config/keyTree';
import type { DiscoveredConfig } from '../workspace/discover';
import { analysisPlan, shownSpec, type AnalysisPlan } from '../config/defences';
import { ATTACKER_NAMES, describeAttacker } from '../config/threatModel';
import { i2fSnippet } from '../config/pythonReference';
import { checkTrainingSetup, type RuleFinding } from '../config/rules';
import type { ConfigField, TrainingSetup } from '../config/trainingSetup';
import { RULES, ruleDocumentation, type RuleSeverity } from '../config/ruleCatalog';
import { isUserError } from '../errors';
import { analyzeModel, type AnalyzeRequest, type AnalyzeReport, type BatchReport, type ProvisionalBand } from './analyzeModel';
import { mostExposedTokens, type TokenModelInfo, type TokenReport } from './tokens';
import { bandRiskLabel, bandSentence, budgetNote, fmt } from './formatText';
import { noGradientFix, noGradientSentence, nothingDeterminedSentence, validityNotes } from './validityText';
import { configuredLoss, lossThatGivesGradient } from './lossChoice';
import { lossInCodeLabel } from '../pysource/trainingLoss';
import type { RiskLevel, RiskThresholds } from '../engine/risk';
import type { Clock } from '../engine/budget';
import type { InfluenceResult } from '../engine/influence';
import { isAnalysableModelFile, loadModelFile } from '../backends/modelFile';
import { opHistogram } from '../graph/support';

export interface Finding extends RuleFinding {
  /** Set on I²F results: the risk level the severity came from. */
  risk?: RiskLevel;
}

/** I2F0xx are results of the analysis itself (ruleCatalog.ts reserves them). */
export const LEAKAGE_RULE = { code: 'I2F001', title: 'Predicted gradient leakage', documentation: 'docs/rules.md#i2f001-predicted-gradient-leakage' };
export const ANALYSIS_FAILED_RULE = { code: 'I2F002', title: 'Model could not be analysed', documentation: 'docs/rules.md#i2f002-model-could-not-be-analysed' };

export interface ConfigAnalysisSettings {
  damping: number;
  seed: number;
  /** Largest batch analysed (a config's batch above it is analysed at this size, and the message says so). */
  maxBatch: number;
  /** Samples analysed per config (the first ones of its samples folder, or synthetic ones). */
  maxSamples: number;
  targetPsnr: number;
  maxModelBytes?: number;
  /** Wall seconds the I²F solves may take (i2f.solveBudgetSeconds; undefined or 0: no limit). */
  solveBudgetSeconds?: number;
  /** i2f.backend: 'tfjs' runs the products in TensorFlow.js (default: the ONNX engine). */
  backend?: 'tfjs';
  /** Risk thresholds (default: the engine's). */
  thresholds?: RiskThresholds;
  /** Top-K and bottom-K eigenvalues of J Jᵀ in the report (default 0: none; the HTML audit report plots them). */
  spectrumK?: number;
  signal?: AbortSignal;
  onProgress?: (stage: string, fraction: number) => void;
  /** Each batch's full engine result (the language server caches its noise response). */
  onInfluence?: (batchIndex: number, result: InfluenceResult) => void;
  /** The provisional answer while the solves run (analyzeModel.ts ProvisionalBand): the editor shows it at once. */
  onBand?: (band: ProvisionalBand) => void;
  /** Clock of the solve budget (tests: a deterministic one, worker.ts). */
  clock?: Clock;
}

export const DEFAULT_CONFIG_ANALYSIS: ConfigAnalysisSettings = { damping: 0, seed: 0, maxBatch: 8, maxSamples: 1, targetPsnr: 15 };

const SEVERITY_OF_RISK: Record<RiskLevel, RuleSeverity> = { high: 'error', medium: 'warning', low: 'information', uncertain: 'information' };

export interface ConfigAnalysis {
  config: string;
  findings: Finding[];
  report?: AnalyzeReport;
}

/** The cheap rules alone (no model is run): answers instantly, and is all an untrusted workspace gets. */
export async function cheapFindings(config: DiscoveredConfig): Promise<Finding[]> {
  const modelOps = config.model && isAnalysableModelFile(config.model) && existsSync(config.model) ? await modelOpsOf(config.model) : undefined;
  return checkTrainingSetup(config.setup, { modelOps });
}

async function modelOpsOf(file: string): Promise<string[] | undefined> {
  try {
    return opHistogram(await loadModelFile(file)).map((h) => h.op);
  } catch {
    return undefined; // the analysis reports an unreadable model on the model line
  }
}

/**
 * The analysis a config asks for (its model, weights, samples, defences and batch, under the editor's or the audit's
 * settings), or undefined when it names no ONNX model on disk. The findings, the spectrum view and the audit all
 * start from this one request, so their numbers agree.
 */
export function analyzeRequestFor(config: DiscoveredConfig, settings: ConfigAnalysisSettings): AnalyzeRequest | undefined {
  const setup = config.setup;
  const plan = analysisPlan(setup);
  const model = config.model;
  if (!model || !existsSync(model) || !isAnalysableModelFile(model)) return undefined;
  const batch = Math.min(plan.batchSize ?? 1, settings.maxBatch);
  return {
    model,
    weights: config.weights && existsSync(config.weights) ? config.weights : undefined,
    data: config.samples && existsSync(config.samples) ? config.samples : undefined,
    batch,
    defences: plan.defences.map((d) => d.spec),
    relativeGaussian: plan.relative.map((r) => ({ sigma0: r.sigma0, percentile: r.percentile })),
    damping: settings.damping,
    spectrumK: settings.spectrumK ?? 0,
    seed: settings.seed,
    // The loss named in the i2f section, else the one the training code computes, else the model's output decides
    // (lossChoice.ts: binary cross-entropy for one output or a final Sigmoid).
    loss: configuredLoss(setup),
    targetPsnr: setup.targetPsnr?.value ?? settings.targetPsnr,
    maxSamples: Math.max(settings.maxSamples, batch),
    syntheticSamples: batch,
    maxModelBytes: settings.maxModelBytes,
    ...(settings.solveBudgetSeconds ? { solveBudgetSeconds: settings.solveBudgetSeconds } : {}),
    ...(settings.backend ? { backend: settings.backend } : {}),
    ...(settings.thresholds ? { thresholds: settings.thresholds } : {}),
    // Each trace sample is one more undamped solve (~10k products on the LeNet): the editor and the audit take two
    // (the seeded draw and one more), and report the estimate's standard error; `i2f analyze` keeps the engine's 4.
    traceSamples: CONFIG_TRACE_SAMPLES,
  };
}

export const CONFIG_TRACE_SAMPLES = 2;

export { configuredLoss };

/** Where the loss analysed comes from, for the finding: the i2f key, the training code's line, or why the code's is not used. */
export function lossSourceSentence(setup: TrainingSetup, configDir: string): string | undefined {
  const code = setup.lossInCode;
  const codeLabel = code ? lossInCodeLabel(code, configDir) : undefined;
  if (setup.loss) {
    const differs = code?.kind && code.kind !== setup.loss.value ? ` (the training code computes ${codeLabel}, ${code.kind})` : '';
    return `Loss: ${setup.loss.value}, named in '${setup.loss.key}'${differs}.`;
  }
  if (!code) return undefined;
  if (code.kind) return `Loss: ${codeLabel}, read in the training code${code.note ? `: ${code.note}` : ''}.`;
  return `Loss: ${codeLabel}, ${code.note}; the one analysed is chosen from the model's output instead (name it in the i2f section: loss: cross-entropy, binary-cross-entropy or mse).`;
}

export async function analyseConfig(config: DiscoveredConfig, settings: ConfigAnalysisSettings = DEFAULT_CONFIG_ANALYSIS): Promise<ConfigAnalysis> {
  const findings: Finding[] = await cheapFindings(config);
  const request = analyzeRequestFor(config, settings);
  if (!request) return { config: config.path, findings };
  const plan = analysisPlan(config.setup);
  const anchor = primaryField(plan, config.setup);
  const batch = request.batch!;
  const targetPsnr = request.targetPsnr!;
  try {
    const report = await analyzeModel(request, { signal: settings.signal, onProgress: settings.onProgress, onInfluence: settings.onInfluence, onBand: settings.onBand, ...(settings.clock ? { clock: settings.clock } : {}) });
    findings.push(leakageFinding(config, plan, report, anchor, batch, targetPsnr));
    return { config: config.path, findings, report };
  } catch (e) {
    if (!isUserError(e)) throw e;
    findings.push(analysisFailedFinding(config, withoutAbsolutePaths(e.describe(), dirname(config.path))));
    return { config: config.path, findings };
  }
}

/**
 * I2F159 in place of I2F001 when the loss analysed gives no gradient (validity.ts noGradient): not a LOW, which
 * would be the most comforting verdict for a model whose real training gradient may well reveal its input, but
 * UNCERTAIN (counted as high by --fail-on), a warning that names the loss, the output and the fix.
 */
function noGradientFinding(config: DiscoveredConfig, plan: AnalysisPlan, report: AnalyzeReport, anchor: ConfigField<unknown> | undefined, sentence: string): Finding {
  const rule = RULES.lossGivesNoGradient;
  // A loss read in the code that gives no gradient on this model (softmax cross-entropy on one output) is pointed at.
  const lossSource = lossSourceSentence(config.setup, dirname(config.path));
  // The same fix in this config's i2f section (its quick fix inserts it, features/lossKeyEdit.ts).
  const outputs = report.settings.outputShape ? report.settings.outputShape.slice(1).reduce((a, d) => a * d, 1) : undefined;
  const named = lossThatGivesGradient(report.settings.loss, outputs);
  const keyFix = named && config.setup.format !== 'python' ? `, or in this config: \`${i2fSnippet(config.setup.format, config.path, 'loss', named)}\`` : '';
  const model = config.modelDescription ? ` Model: ${config.modelDescription}.` : '';
  const range: Range = anchor?.keyRange ?? { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } };
  return {
    code: rule.code,
    severity: rule.severity,
    message: `Leakage not analysed (risk UNCERTAIN): ${sentence}. ${noGradientFix(report.settings)}${keyFix}. ${lossSource ? `${lossSource} ` : ''}${threatSentence(plan)}${model}`,
    file: config.path,
    range,
    documentation: ruleDocumentation(rule),
    key: anchor?.key,
    risk: 'uncertain',
  };
}

/** The I2F001 finding for a report (the language server re-derives it when a cached report is re-evaluated). */
export function leakageFindingOf(config: DiscoveredConfig, report: AnalyzeReport, settings: Pick<ConfigAnalysisSettings, 'maxBatch' | 'targetPsnr'>): Finding {
  const plan = analysisPlan(config.setup);
  const batch = Math.min(plan.batchSize ?? 1, settings.maxBatch);
  return leakageFinding(config, plan, report, primaryField(plan, config.setup), batch, config.setup.targetPsnr?.value ?? settings.targetPsnr);
}

/**
 * An error's text with the config's folder written as './' and the temporary folder as '<temp>': findings travel
 * (SARIF, CI logs, a colleague's editor) and a machine's absolute paths in them mean nothing there.
 */
export function withoutAbsolutePaths(text: string, configDir: string): string {
  const escape = (p: string) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return text
    .replace(new RegExp(escape(configDir.endsWith(sep) ? configDir : configDir + sep), 'g'), `.${sep}`)
    .replace(new RegExp(escape(tmpdir()) + `\\${sep}[^\\s:'"]*`, 'g'), '<temp>');
}

/** Why a setup with no model file is not analysed: a config that names none, or DP code whose model is a Python class. */
export function noModelReason(setup: TrainingSetup): string {
  if (setup.pythonModelProblem) return setup.pythonModelProblem.reason;
  return setup.format === 'python'
    ? "the DP call's model was not found as a module:Class the export bridge can build (name the model in an i2f section of the app's config)"
    : 'the config names no model';
}

/** Why a config's model is not analysed when its path is neither an .onnx file nor a TensorFlow.js .json. */
export const NOT_A_MODEL_FILE = 'only ONNX and TensorFlow.js models are analysed so far';

/** I2F002 (information) for a model path with no model extension (/etc/passwd, a folder): said where it is named. */
export function notAModelFinding(config: DiscoveredConfig, model: string): Finding {
  return { ...analysisFailedFinding(config, ''), severity: 'information', message: `Not analysed: ${model} is neither an ONNX model (.onnx) nor a TensorFlow.js model.json; only those are analysed.` };
}

/** I2F002 on the model line: the model could not be loaded or analysed. */
export function analysisFailedFinding(config: DiscoveredConfig, description: string): Finding {
  const setup = config.setup;
  const anchor = primaryField(analysisPlan(setup), setup);
  // A checkpoint that does not fit the model is said where the weights are named (a script's load_state_dict line).
  const weights = /the checkpoint.* does not fit /.test(description) && setup.weights?.file === config.path ? setup.weights : undefined;
  const model = [modelField(setup)].find((f) => f && f.file === config.path);
  const range = weights?.keyRange ?? model?.valueRange ?? anchor?.keyRange ?? { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } };
  return {
    code: ANALYSIS_FAILED_RULE.code,
    severity: 'error',
    message: `The model could not be analysed: ${description}`,
    file: config.path,
    range,
    documentation: ANALYSIS_FAILED_RULE.documentation,
    key: (modelField(setup))?.key,
  };
}

/** The line that names the model: a file, an architecture, a Python factory, or a Flower app's client component. */
export function modelField(setup: TrainingSetup): ConfigField<string> | undefined {
  return setup.model ?? setup.architecture ?? setup.pythonModel ?? setup.flowerClientApp;
}

/**
 * The line that decides the risk: the first defence key, else the batch size, else the model path; in Python, the
 * noise argument of the DP call. Only a field written in the config's own file can carry its finding (a Python setup's
 * model path may come from the app's pyproject.toml).
 */
function primaryField(plan: AnalysisPlan, setup: TrainingSetup): ConfigField<unknown> | undefined {
  // A σ reproduced from make_private_with_epsilon's target_epsilon is written nowhere: the finding stays on what the call writes.
  const code = setup.format === 'python' ? [setup.noiseFromTarget?.note ? undefined : setup.noiseMultiplier, setup.noiseStd] : [];
  const candidates = [...code, plan.defences[0]?.fields[0], plan.relative[0]?.fields[0], plan.batchFields[0], modelField(setup)];
  return candidates.find((f) => f && f.file === setup.file) ?? candidates.find((f) => !!f);
}

/** "Attacker: the curious server, which … (the strongest attacker this config allows)." */
export function threatSentence(plan: AnalysisPlan): string {
  const who = describeAttacker(plan.threat.chosen);
  return `Attacker: ${who.charAt(0).toUpperCase()}${who.slice(1)} (${plan.threat.reason}).`;
}

export function worstBatch(report: AnalyzeReport): BatchReport {
  // The most exposed batch decides: lowest attacker error (highest PSNR; text: most tokens recovered); an uncertain
  // result never hides.
  const exposure = (b: BatchReport) => (b.tokens ? mostExposedTokens(b.tokens).recovered : b.mostExposed?.psnr ?? expectedPsnr(b));
  return report.results.reduce((worst, b) => (b.risk === 'uncertain' || exposure(b) > exposure(worst) ? b : worst));
}

/** Percent for messages: 88%, 12.5% → 13%. */
export function percent(x: number): string {
  return `${Math.round(x * 100)}%`;
}

/** "an attacker would recover N% of tokens …" for a text batch (messages, hovers, reports say it the same way). */
export function tokenSentence(t: TokenReport): string {
  const top = mostExposedTokens(t);
  const many = t.perSample.length > 1;
  return `a gradient-inversion attacker would recover ${percent(top.recovered)} of the tokens of sample ${top.sample}${many ? ` (${percent(t.recovered)} over the batch)` : ''} (per position ${t.perPosition.map(percent).join(' ')}; ${t.metric} nearest embedding row of ${t.reconstruction})`;
}

/** Said of every text result: which space the RMSE/PSNR (and the I²F) live in. */
export function embeddingSpaceNote(input: TokenModelInfo): string {
  return `The model reads token ids: every number (I²F, RMSE, PSNR) is in embedding space, x = ${input.embeddingMatrix}[ids] (${input.sequenceLength} tokens × ${input.embeddingDim}).`;
}

export function expectedPsnr(b: BatchReport): number {
  return b.i2fExpected !== undefined ? b.expectedPsnr : b.psnr;
}

/**
 * The samples an analysis ran on, named from THIS config (relative to its folder). Results are cached by content, so
 * a report may come from a byte-identical workspace elsewhere: its own absolute paths must not leak into messages.
 */
export function samplesLabel(config: DiscoveredConfig, report: AnalyzeReport): string {
  const source = report.settings.data;
  if (!config.samples || source.startsWith('synthetic')) return source;
  const suffix = / \(first \d+ of \d+\)$/.exec(source)?.[0] ?? '';
  return (relative(dirname(config.path), config.samples) || '.') + suffix;
}

/**
 * I2F001 while the solves run (analyzeModel.ts ProvisionalBand): λmax, I_lb and the I²F's graded band; the severity
 * is the band's conservative end (never more comforting than the evidence), "so far" until the solve finishes.
 */
export function provisionalFinding(config: DiscoveredConfig, p: ProvisionalBand): Finding {
  const plan = analysisPlan(config.setup);
  const anchor = primaryField(plan, config.setup);
  const defence = plan.defences.length ? plan.defences.map((d) => shownSpec(d.spec)).join(' then ') : 'no defence';
  const where = `${p.batches > 1 ? `batch ${p.batch + 1}/${p.batches}, ` : ''}${p.stage} iteration ${p.iteration}`;
  const message = [
    `Leakage risk ${bandRiskLabel(p.band)} so far (the I²F solve is running: ${where}): under ${defence}, the iterates put the ${bandSentence(p.band, p.expected)}.`,
    lambdaSentence(p),
    threatSentence(plan),
  ].join(' ');
  const range: Range = anchor?.keyRange ?? { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } };
  return {
    code: LEAKAGE_RULE.code, severity: SEVERITY_OF_RISK[p.band.risk[0]], message, file: config.path, range,
    documentation: LEAKAGE_RULE.documentation, key: anchor?.key, risk: p.band.risk[0],
  };
}

/**
 * λmax and I_lb as far as they are known: while λmax's Lanczos runs alongside the solves only its Ritz value so far,
 * which λmax is at least, and no I_lb (‖Jδ‖ over a value below λmax would overstate the bound).
 */
export function lambdaSentence(p: Pick<ProvisionalBand, 'lambdaMax' | 'lowerBound' | 'lambdaMaxRunning'>): string {
  return p.lambdaMaxRunning
    ? `λmax ≥ ${fmt(p.lambdaMax)} so far (its Lanczos is running${p.lambdaMaxRunning.step > 0 ? `, step ${p.lambdaMaxRunning.step}` : ''}); the lower bound I_lb follows once it has converged.`
    : `λmax ${fmt(p.lambdaMax)}, lower bound I_lb ${fmt(p.lowerBound)}.`;
}

function leakageFinding(config: DiscoveredConfig, plan: AnalysisPlan, report: AnalyzeReport, anchor: ConfigField<unknown> | undefined, batch: number, targetPsnr: number): Finding {
  const b = worstBatch(report);
  // The most exposed sample's own expected PSNR is what the risk is graded on (engine/influence.ts), and what is quoted.
  const psnr = b.mostExposed?.psnr ?? expectedPsnr(b);
  const rmse = b.mostExposed?.rmse ?? (b.i2fExpected !== undefined ? b.expectedRmse : b.rmse);
  const noiseInCode = config.setup.noiseInCode ? ' (noise set in code: add it to the i2f: section to analyse it)' : '';
  const defence = (plan.defences.length ? plan.defences.map((d) => shownSpec(d.spec)).join(' then ') : 'no defence') + noiseInCode;
  const parts: string[] = [];
  const noGradient = noGradientSentence(b, report.settings);
  if (noGradient) return noGradientFinding(config, plan, report, anchor, noGradient);
  const nothing = nothingDeterminedSentence(b);
  if (nothing && b.risk !== 'uncertain') {
    parts.push(`Leakage risk ${b.risk.toUpperCase()}: under ${defence}, ${nothing}.`);
  } else if (b.risk === 'uncertain' && [b.lambdaMax, b.lowerBound, b.gradientNorm, b.jDeltaNorm].some((x) => !Number.isFinite(x))) {
    parts.push(`Leakage risk UNCERTAIN: the model's products are not finite (λmax ${fmt(b.lambdaMax)}, gradient norm ${fmt(b.gradientNorm)}; NaN or ∞ in the weights or inputs?), so no number can be trusted (relative residual ${fmt(b.solver.relativeResidual, 2)} after ${b.solver.iterations} iterations).`);
  } else if (b.band && b.solver.budget?.exhausted) {
    // The budget stopped the solve, but its iterates bound the answer (engine/resultBand.ts): say what they settle.
    parts.push(`Leakage risk ${bandRiskLabel(b.band)}: ${budgetNote(b.solver)}; its iterates put the ${bandSentence(b.band, b.i2fExpected !== undefined)}. Raise i2f.solveBudgetSeconds to narrow the band.`);
  } else if (b.risk === 'uncertain' && b.solver.budget?.exhausted) {
    parts.push(`Leakage risk UNCERTAIN: ${budgetNote(b.solver)}, so no confident number is shown; raise i2f.solveBudgetSeconds to finish it.`);
  } else if (b.risk === 'uncertain') {
    parts.push(`Leakage risk UNCERTAIN: the I²F solve did not converge (relative residual ${fmt(b.solver.relativeResidual, 2)} after ${b.solver.iterations} iterations), so no confident number is shown.`);
  } else if (b.tokens) {
    parts.push(`Leakage risk ${b.risk.toUpperCase()}: under ${defence}, ${tokenSentence(b.tokens)}; embedding-space RMSE ${fmt(rmse)} (PSNR ${fmt(psnr)} dB).`);
  } else {
    parts.push(`Leakage risk ${b.risk.toUpperCase()}: under ${defence}, a gradient-inversion attacker rebuilds sample ${b.mostExposed?.sample ?? b.samples[0]} at PSNR ${fmt(psnr)} dB (RMSE ${fmt(rmse)}).`);
  }
  parts.push(threatSentence(plan));
  const many = b.perSample.length > 1 && !nothing;
  parts.push(`I²F ${fmt(b.i2fExpected ?? b.i2f)}, lower bound ${fmt(b.lowerBound)}${b.validity && !b.validity.lowerBoundCertified ? ' (not certified)' : ''}${many ? `; the batch's mean PSNR ${fmt(expectedPsnr(b))} dB` : ''}; batch ${batch}${(plan.batchSize ?? 1) > batch ? ` (config: ${plan.batchSize}, analysed at ${batch})` : ''}, ${report.results.length} batch(es) of ${samplesLabel(config, report)}.`);
  if (!nothing) parts.push(...validityNotes(b));
  // Which loss the gradient is of (lossChoice.ts): binary cross-entropy for one output per example or a final Sigmoid.
  if (report.settings.lossDescription) parts.push(`Loss analysed: ${report.settings.lossDescription}.`);
  const lossSource = lossSourceSentence(config.setup, dirname(config.path));
  if (lossSource) parts.push(lossSource);
  if (report.model.input) parts.push(embeddingSpaceNote(report.model.input));
  // A script that loads weights the analysis cannot use says so beside "at initialisation" (pysource/loadedWeights.ts).
  const scriptWeights = (!config.weights && config.setup.loadedWeightsNote ? `; ${config.setup.loadedWeightsNote}` : '') + (config.setup.trainedFunctionNote ? `; ${config.setup.trainedFunctionNote}` : '');
  if (config.modelDescription) parts.push(`Model: ${config.modelDescription}${config.weights ? `, weights ${relative(dirname(config.path), config.weights)}` : `, ${config.modelInitialisation ?? AT_INITIALISATION}`}${scriptWeights}.`);
  // A model file the config does not name (adopted as the only model in its folder) is said, so the user knows which.
  else if (config.model && config.modelSource === 'same-folder') parts.push(`Model: ${relative(dirname(config.path), config.model)}, the only model file in this folder${config.weights ? `, weights ${relative(dirname(config.path), config.weights)}` : ''}${scriptWeights}.`);
  if (config.checkpoint) parts.push(`Weights: the latest checkpoint training wrote, ${config.checkpoint.name}${config.checkpoint.step !== undefined ? ` (step ${config.checkpoint.step})` : ''}.`);
  const tn = b.tokens?.noiseForTarget;
  if (b.tokens) {
    // Text is graded on tokens, so the advice is the noise that brings them below the medium threshold.
    if (tn && tn.std > 0 && b.risk !== 'low' && b.risk !== 'uncertain') {
      parts.push(Number.isFinite(tn.std)
        ? `Keeping every sample below ${percent(tn.below)} of its tokens (low risk) needs Gaussian std ${fmt(tn.std)}${tn.noiseMultiplier !== undefined ? ` (noise multiplier ${fmt(tn.noiseMultiplier)})` : ''}.`
        : `Along this noise draw no Gaussian std brings every sample below ${percent(tn.below)} of its tokens.`);
    }
  } else if (!nothing && b.noiseForTarget && b.noiseForTarget.stdForEverySample > 0 && psnr > targetPsnr) {
    const n = b.noiseForTarget;
    parts.push(`Reaching the ${targetPsnr} dB${report.model.input ? ' (embedding-space)' : ''} target needs Gaussian std ${fmt(n.stdForEverySample)} for every sample${n.noiseMultiplier !== undefined ? ` (noise multiplier ${fmt(n.noiseMultiplier)})` : ''}.`);
  }
  const unseen = plan.threat.others.flatMap((v) => v.defences).filter((d, i, all) => !plan.defences.includes(d) && all.indexOf(d) === i);
  if (unseen.length) {
    const onlyClient = plan.threat.chosen.attacker === 'server' ? ' Against the server only noise added on the client counts (local DP: Flower\'s LocalDpMod, FedML ldp, DP-SGD in training).' : '';
    // Central noise: name the attacker who does face it and how to grade that one instead (issue 15, Flower/FedML cdp).
    const observer = plan.threat.others.find((v) => v.attacker === 'aggregate' && v.defences.some((d) => unseen.includes(d)));
    const choose = observer
      ? ` ${ATTACKER_NAMES.aggregate.charAt(0).toUpperCase()}${ATTACKER_NAMES.aggregate.slice(1)} faces it (${unseen.filter((d) => observer.defences.includes(d)).map((d) => shownSpec(d.spec)).join(', ')} on one client's share); for a deployment that trusts its server, ${i2fSnippet(config.setup.format, config.path, 'attacker', 'aggregate')} grades that attacker instead.`
      : '';
    parts.push(`Not seen by this attacker: ${unseen.map((d) => shownSpec(d.spec)).join(', ')} (added after it has the update; the hover shows the other attackers).${choose}${onlyClient}`);
  }
  const range: Range = anchor?.keyRange ?? { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } };
  return {
    code: LEAKAGE_RULE.code,
    severity: SEVERITY_OF_RISK[b.risk],
    message: parts.join(' '),
    file: config.path,
    range,
    documentation: LEAKAGE_RULE.documentation,
    key: anchor?.key,
    risk: b.risk,
  };
}
