// The `i2f` command line: the same analysis the language server runs, for CI and scripts. Errors go to stderr
// with exit code 2; the JSON shape of `analyze --json` is a contract other tools rely on (README, "CLI").

import { parseArgs } from 'node:util';
import { isUserError } from './errors';
import { analyzeModel, type AnalyzeRequest } from './analysis/analyzeModel';
import { formatAnalysisText } from './analysis/formatText';
import { formatTokenText } from './analysis/tokens';
import { AUDIT_FORMATS, AuditUsageError, runAudit, type AuditFormat } from './analysis/audit';
import { FAIL_ON_VALUES, type FailOn } from './analysis/report/model';
import { SettingsFileError } from './analysis/report/settingsFile';
import { ATTACK_USAGE, attackCommand } from './analysis/attackCli';
import { defaultCacheDir } from './analysis/audit';
import { MODEL_ARGUMENT_OPTIONS, MODEL_ARGUMENT_USAGE, resolveModelArgument } from './models/modelArgument';
import { PRIVACY_USAGE, PrivacyUsageError, privacyCommand } from './analysis/privacyCli';
import { parseLossSetting, type LossSetting } from './analysis/lossChoice';

const USAGE = `i2f — how much of a client's private data can an attacker rebuild from its shared gradients?

Usage:
  i2f analyze MODEL [--dataset NAME | --input-shape C,H,W --classes K]
                    [--weights CHECKPOINT] [--data PATH] [--labels LIST|PATH] [--batch B]
                    [--defense SPEC]… [--delta FILE.safetensors] [--damping EPS] [--spectrum K]
                    [--backend onnx|tfjs] [--cross-check] [--seed N] [--json]
  i2f audit [PATH…] [--format text|json|sarif|html] [--fail-on high|medium|low|never] [--jobs N]
                    [--out FILE] [--no-cache] [--cache-dir DIR] [--settings FILE] [--spectrum K] [--quiet]
                    [--python PATH] (builds models defined in Python: Flower apps, i2f: model: pkg.task:Net)
                    (settings: PATH/.vscode/settings.json i2f.*, PATH/i2f.config.json; docs/audit.md)
${ATTACK_USAGE}${PRIVACY_USAGE}
Weights (--weights): a torch.save state_dict (.pt/.pth/.bin/.ckpt), .safetensors, or a Hugging Face folder
  (config.json + weights, sharded index, checkpoint-N/); read as data, never unpickled with code.
${MODEL_ARGUMENT_USAGE}

Defences (--defense, repeatable, applied in order):
  gaussian:std=S   dpsgd:clip=C,noise=SIGMA   prune:ratio=P   quantize:bits=K   topk:ratio=P

More options for analyze:
  --loss auto|cross-entropy|binary-cross-entropy|mse (default auto: binary cross-entropy for one output per example
    or a final Sigmoid, else cross-entropy)   --tolerance T (default 1e-6)   --max-iterations N   --target-psnr DB
  --budget SECONDS (wall time for the I²F solves; past it: not converged, with the residual and the time still needed)
  --backend tfjs (nested autodiff in TensorFlow.js: WASM, or tfjs-node when installed)
  --cross-check (run both engines; report the largest relative disagreement of g, J u, Jᵀ v)
  --threads N (onnxruntime intra-op threads)   --provider cpu|cuda (execution provider, falls back to cpu)
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(USAGE);
    return command ? 0 : 2;
  }
  // `i2f audit --help` and friends: the usage on stdout and success, as every CLI answers a request for help.
  if (['analyze', 'audit', 'attack'].includes(command) && rest.some((a) => a === '--help' || a === '-h')) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (command === 'analyze') return analyzeCommand(rest);
  if (command === 'audit') return auditCommand(rest);
  if (command === 'attack') return attackCommand(rest);
  if (command === 'privacy') {
    try {
      return await privacyCommand(rest);
    } catch (e) {
      if (e instanceof PrivacyUsageError || e instanceof RangeError) throw new CliError(e.message);
      throw e;
    }
  }
  process.stderr.write(`i2f: unknown command '${command}'\n\n${USAGE}`);
  return 2;
}

function number(name: string, value: string | undefined, fallback?: number): number | undefined {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new CliError(`--${name} expects a number, got '${value}'`);
  return n;
}

function integer(name: string, value: string | undefined, fallback?: number, min = 0): number | undefined {
  const n = number(name, value, fallback);
  if (n === undefined) return undefined;
  if (!Number.isInteger(n) || n < min) throw new CliError(`--${name} expects an integer ≥ ${min}, got '${value}'`);
  return n;
}

class CliError extends Error {}

async function analyzeCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      weights: { type: 'string' },
      data: { type: 'string' },
      labels: { type: 'string' },
      batch: { type: 'string' },
      defense: { type: 'string', multiple: true },
      defence: { type: 'string', multiple: true },
      delta: { type: 'string' },
      damping: { type: 'string' },
      spectrum: { type: 'string' },
      backend: { type: 'string' },
      'cross-check': { type: 'boolean' },
      seed: { type: 'string' },
      json: { type: 'boolean' },
      loss: { type: 'string' },
      tolerance: { type: 'string' },
      'max-iterations': { type: 'string' },
      budget: { type: 'string' },
      'target-psnr': { type: 'string' },
      threads: { type: 'string' },
      provider: { type: 'string' },
      ...MODEL_ARGUMENT_OPTIONS,
    },
  });
  if (positionals.length !== 1) throw new CliError(`analyze takes one MODEL, got ${positionals.length}`);
  const model = await resolveModelArgument(positionals[0], {
    dataset: values.dataset, inputShape: values['input-shape'], classes: values.classes, weights: values.weights,
    initSeed: integer('init-seed', values['init-seed'], undefined, 0), cacheDir: defaultCacheDir(), python: values.python,
  });
  const backend = values.backend ?? 'onnx';
  if (backend !== 'onnx' && backend !== 'tfjs') throw new CliError(`--backend '${backend}' is not available (available: onnx, tfjs)`);
  let loss: LossSetting;
  try {
    loss = parseLossSetting(values.loss);
  } catch (e) {
    throw new CliError((e as Error).message);
  }
  const request: AnalyzeRequest = {
    model: model.path,
    weights: values.weights,
    data: values.data,
    labels: values.labels,
    batch: integer('batch', values.batch, undefined, 1),
    defences: [...(values.defense ?? []), ...(values.defence ?? [])],
    delta: values.delta,
    damping: number('damping', values.damping, 0)!,
    spectrumK: integer('spectrum', values.spectrum, 0)!,
    seed: integer('seed', values.seed, 0)!,
    loss,
    tolerance: number('tolerance', values.tolerance),
    maxIterations: integer('max-iterations', values['max-iterations'], undefined, 1),
    solveBudgetSeconds: number('budget', values.budget),
    targetPsnr: number('target-psnr', values['target-psnr']),
    backend,
    crossCheck: !!values['cross-check'],
    session: {
      intraOpNumThreads: integer('threads', values.threads, undefined, 1),
      executionProviders: values.provider ? [values.provider, 'cpu'] : undefined,
    },
  };
  if (request.damping < 0) throw new CliError('--damping must be ≥ 0');
  if (request.solveBudgetSeconds !== undefined && !(request.solveBudgetSeconds > 0)) throw new CliError('--budget must be a number of seconds > 0');
  const progress = values.json || !process.stderr.isTTY ? undefined : (stage: string, fraction: number) => {
    // \x1b[K clears the rest of the line: a solve's label ("…, ~3 min left") is longer than the next stage's.
    process.stderr.write(`\r${stage.padEnd(28)} ${(fraction * 100).toFixed(0).padStart(3)}%\x1b[K`);
  };
  const report = await analyzeModel(request, { onProgress: progress });
  if (model.description) report.model.description = model.description;
  if (progress) process.stderr.write('\r'.padEnd(40) + '\r');
  process.stdout.write(values.json ? JSON.stringify(report, null, 2) + '\n' : formatAnalysisText(report) + formatTokenText(report));
  if (!values.json) {
    for (const r of report.results) {
      const c = r.crossCheck;
      if (c) process.stdout.write(`cross-check (samples ${r.samples.join(', ')}): tfjs vs onnx relative disagreement g ${c.g.toExponential(2)}, J u ${c.Ju.toExponential(2)}, Jᵀ v ${c.JTv.toExponential(2)} (max ${c.max.toExponential(2)})\n`);
    }
  }
  return 0;
}

async function auditCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      format: { type: 'string', short: 'f' },
      json: { type: 'boolean' },
      'fail-on': { type: 'string' },
      jobs: { type: 'string', short: 'j' },
      out: { type: 'string', short: 'o' },
      'no-cache': { type: 'boolean' },
      'cache-dir': { type: 'string' },
      settings: { type: 'string' },
      spectrum: { type: 'string' },
      quiet: { type: 'boolean', short: 'q' },
      python: { type: 'string' },
    },
  });
  const format = (values.format ?? (values.json ? 'json' : 'text')) as AuditFormat;
  if (!AUDIT_FORMATS.includes(format)) throw new CliError(`--format must be one of ${AUDIT_FORMATS.join(', ')}, got '${values.format}'`);
  const failOn = (values['fail-on'] ?? 'never') as FailOn;
  if (!FAIL_ON_VALUES.includes(failOn)) throw new CliError(`--fail-on must be one of ${FAIL_ON_VALUES.join(', ')}, got '${values['fail-on']}'`);
  try {
    return await runAudit(positionals.length ? positionals : ['.'], {
      format,
      failOn,
      jobs: integer('jobs', values.jobs, undefined, 1),
      noCache: !!values['no-cache'],
      cacheDir: values['cache-dir'],
      settingsFile: values.settings,
      python: values.python,
      spectrumK: integer('spectrum', values.spectrum, undefined, 0),
      outFile: values.out,
      quiet: !!values.quiet,
      out: process.stdout,
      err: process.stderr,
    });
  } catch (e) {
    if (e instanceof AuditUsageError || e instanceof SettingsFileError) throw new CliError(e.message);
    throw e;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    if (isUserError(e)) process.stderr.write(`i2f: ${e.describe()}\n`);
    else if (e instanceof CliError || (e as { code?: string })?.code?.startsWith?.('ERR_PARSE_ARGS')) process.stderr.write(`i2f: ${(e as Error).message}\n`);
    else process.stderr.write(`i2f: internal error: ${(e as Error)?.stack ?? String(e)}\n`);
    process.exit(2);
  },
);
