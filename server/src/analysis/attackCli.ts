// `i2f attack MODEL …`: argument parsing and output for the attack command (server/src/cli.ts dispatches here).
// Input options are those of `i2f analyze`; bad values are UserErrors (exit code 2 with a message).

import { MODEL_ARGUMENT_OPTIONS, resolveModelArgument } from '../models/modelArgument';
import { defaultCacheDir } from './audit';
import { parseArgs } from 'node:util';
import { UserError } from '../errors';
import { attackModel, formatAttackText, parseSweep, type AttackRequest } from './attack';
import { parseLossSetting } from './lossChoice';

export const ATTACK_USAGE = `  i2f attack MODEL [--weights FILE] [--data PATH] [--labels LIST|PATH] [--batch B] [--defense SPEC]…
                   [--delta FILE] [--steps N] [--optimizer lbfgs|adam] [--objective l2|cosine] [--tv W]
                   [--restarts R] [--lr LR] [--signed|--no-signed] [--box|--no-box] [--seed N] [--damping EPS]
                   [--backend onnx|tfjs] [--sweep std=S1,S2,…|rel=R1,R2,…] [--out DIR] [--json]
                   [--loss auto|cross-entropy|binary-cross-entropy|mse]
`;

function num(name: string, v: string | undefined, opts: { int?: boolean; min?: number } = {}): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || (opts.int && !Number.isInteger(n)) || (opts.min !== undefined && n < opts.min)) {
    throw new UserError('bad-option', `--${name} expects ${opts.int ? 'an integer' : 'a number'}${opts.min !== undefined ? ` ≥ ${opts.min}` : ''}, got '${v}'`);
  }
  return n;
}

export async function attackCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      weights: { type: 'string' }, data: { type: 'string' }, labels: { type: 'string' }, batch: { type: 'string' },
      defense: { type: 'string', multiple: true }, defence: { type: 'string', multiple: true }, delta: { type: 'string' },
      steps: { type: 'string' }, optimizer: { type: 'string' }, objective: { type: 'string' }, tv: { type: 'string' },
      restarts: { type: 'string' }, lr: { type: 'string' }, signed: { type: 'boolean' }, 'no-signed': { type: 'boolean' },
      box: { type: 'boolean' }, 'no-box': { type: 'boolean' }, seed: { type: 'string' }, damping: { type: 'string' },
      sweep: { type: 'string' }, out: { type: 'string' }, json: { type: 'boolean' }, loss: { type: 'string' },
      tolerance: { type: 'string' }, 'max-iterations': { type: 'string' }, threads: { type: 'string' },
      backend: { type: 'string' },
      ...MODEL_ARGUMENT_OPTIONS,
    },
  });
  if (positionals.length !== 1) throw new UserError('bad-option', `attack takes one MODEL, got ${positionals.length}`);
  const model = await resolveModelArgument(positionals[0], {
    dataset: values.dataset, inputShape: values['input-shape'], classes: values.classes, weights: values.weights,
    initSeed: num('init-seed', values['init-seed'], { int: true, min: 0 }), cacheDir: defaultCacheDir(), python: values.python,
  });
  if (model.description && !values.json) process.stderr.write(`Model: ${model.description}\n`);
  const optimizer = values.optimizer ?? 'lbfgs';
  if (optimizer !== 'lbfgs' && optimizer !== 'adam') throw new UserError('bad-option', `--optimizer must be lbfgs or adam, got '${optimizer}'`);
  const objective = values.objective ?? 'l2';
  if (objective !== 'l2' && objective !== 'cosine') throw new UserError('bad-option', `--objective must be l2 or cosine, got '${objective}'`);
  const loss = parseLossSetting(values.loss);
  // The engine that runs the products, as `i2f analyze --backend` (the report's model.backend names it).
  const backend = values.backend ?? 'onnx';
  if (backend !== 'onnx' && backend !== 'tfjs') throw new UserError('bad-option', `--backend '${backend}' is not available (available: onnx, tfjs)`);
  const request: AttackRequest = {
    model: model.path,
    weights: values.weights,
    data: values.data,
    labels: values.labels,
    batch: num('batch', values.batch, { int: true, min: 1 }),
    defences: [...(values.defense ?? []), ...(values.defence ?? [])],
    delta: values.delta,
    seed: num('seed', values.seed, { int: true, min: 0 }) ?? 0,
    loss,
    damping: num('damping', values.damping, { min: 0 }),
    tolerance: num('tolerance', values.tolerance, { min: 0 }),
    maxIterations: num('max-iterations', values['max-iterations'], { int: true, min: 1 }),
    session: { intraOpNumThreads: num('threads', values.threads, { int: true, min: 1 }) },
    backend,
    attack: {
      optimizer, objective,
      steps: num('steps', values.steps, { int: true, min: 0 }),
      learningRate: num('lr', values.lr, { min: 0 }),
      signed: values.signed ? true : values['no-signed'] ? false : undefined,
      tv: num('tv', values.tv, { min: 0 }) ?? 0,
      restarts: num('restarts', values.restarts, { int: true, min: 1 }) ?? 1,
      box: values.box ? true : values['no-box'] ? false : undefined,
    },
    sweep: values.sweep ? parseSweep(values.sweep) : undefined,
    out: values.out,
  };
  const progress = values.json || !process.stderr.isTTY ? undefined : (stage: string, fraction: number) => {
    process.stderr.write(`\r${stage.slice(0, 38).padEnd(38)} ${(fraction * 100).toFixed(0).padStart(3)}%`);
  };
  const ac = new AbortController();
  const onSigint = () => ac.abort(new UserError('cancelled', 'interrupted'));
  process.once('SIGINT', onSigint);
  try {
    const report = await attackModel(request, { onProgress: progress, signal: ac.signal });
    if (progress) process.stderr.write('\r'.padEnd(48) + '\r');
    process.stdout.write(values.json ? JSON.stringify(report, null, 2) + '\n' : formatAttackText(report));
  } finally {
    process.off('SIGINT', onSigint);
  }
  return 0;
}
