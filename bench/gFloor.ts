// The examples MLP's g against PyTorch's, split into what is glue and what is the graph (issue 18's bench miss; not
// part of `npm run bench`):   node --import tsx bench/gFloor.ts [--model mlp] [--rounds 3] [--budget 3000]
// Alternates, round after round so the machine's load hits every side alike (CPU time per call, process.cpuUsage and
// Python's process_time, one thread each):
//   operator      op.gradient(out): the engine's call, Float32 → Float64 copy of g included
//   raw           session.run of the same g graph with feeds made once (no glue at all)
//   raw, no copy  the same run with g written into a pre-allocated output tensor (fetches)
//   empty run     session.run of a one-node graph (Identity on one float): what any call costs, whatever the graph
//                 (binding, the run on a libuv worker thread and back, the promise)
//   PyTorch       bench/pytorch_reference.py's g (forward + backward, torch.set_num_threads(1)) on the same weights
// and prints the load average at each round.

import { spawnSync } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { ort, sessionOptions } from '../server/src/backends/onnx/onnxOperator';
import { encodeModel } from '../server/src/backends/onnx/onnxProto';
import type { Model } from '../server/src/graph/ir';
import { BENCH_MODELS, ROOT } from './common';
import { benchOperator } from './measure';
import { timeLoop } from './timing';

async function main() {
  const argv = process.argv.slice(2);
  const get = (k: string, d: string) => { const i = argv.indexOf(k); return i >= 0 ? argv[i + 1] : d; };
  const spec = BENCH_MODELS.find((m) => m.name === get('--model', 'mlp'))!;
  const rounds = Number(get('--rounds', '3'));
  const budgetMs = Number(get('--budget', '3000'));
  const { x, target, op } = await benchOperator(spec);
  const m = op.parameterCount;
  const out = new Float64Array(m);

  const T = ort().Tensor;
  const { model: pm, layout } = op.productModel('gradient');
  const session = await ort().InferenceSession.create(encodeModel(pm), sessionOptions());
  const feeds = { [layout.inputName]: new T('float32', x, layout.inputDims), i2f_target: new T('float32', target, layout.targetDims) };
  const fetches = { g: new T('float32', new Float32Array(m), [m]), loss: null };
  const identity: Model = {
    graph: {
      name: 'identity', nodes: [{ name: 'id', opType: 'Identity', domain: '', inputs: ['a'], outputs: ['b'], attributes: {} }],
      initializers: new Map(), inputs: [{ name: 'a', dtype: 'float32', dims: [1] }], outputs: [{ name: 'b', dtype: 'float32', dims: [1] }],
    },
    opsets: [{ domain: '', version: 17 }], producerName: 'bench', producerVersion: '0', irVersion: 8,
  };
  const empty = await ort().InferenceSession.create(encodeModel(identity), sessionOptions());
  const emptyFeeds = { a: new T('float32', new Float32Array(1), [1]) };
  const ms = (v: number) => v.toFixed(3);
  console.log(`${spec.name}: g of ${m} parameters, ${pm.graph.nodes.length} nodes; ms CPU per call (wall median)`);
  for (let r = 0; r < rounds; r++) {
    const load = os.loadavg()[0];
    const o = { repeat: 100_000, budgetMs, warmup: 20 };
    const viaOperator = await timeLoop(() => op.gradient(out), o);
    const raw = await timeLoop(() => session.run(feeds), o);
    const rawNoCopy = await timeLoop(() => session.run(feeds, fetches), o);
    const emptyRun = await timeLoop(() => empty.run(emptyFeeds), o);
    const py = spawnSync('/usr/bin/python3', ['bench/pytorch_reference.py', '--models', spec.name, '--no-analysis', '--repeats', '100000', '--budget', String(budgetMs / 1000)], { cwd: ROOT, encoding: 'utf8' });
    const pt = py.status === 0 ? JSON.parse(py.stdout).products[spec.name] : undefined;
    console.log(`round ${r + 1} (load ${load.toFixed(1)} → ${os.loadavg()[0].toFixed(1)}): operator ${ms(viaOperator.cpuPerCall)} (${ms(viaOperator.median)}), `
      + `raw ${ms(raw.cpuPerCall)} (${ms(raw.median)}), raw no copy ${ms(rawNoCopy.cpuPerCall)} (${ms(rawNoCopy.median)}), empty run ${ms(emptyRun.cpuPerCall)} (${ms(emptyRun.median)}), `
      + `PyTorch ${pt ? `${ms(pt.g_cpu_ms)} (${ms(pt.g_ms)})` : `failed: ${py.stderr.split('\n').slice(-3).join(' ')}`}`);
  }
  await session.release();
  await empty.release();
  await op.dispose();
}

main().catch((e) => { console.error(e); process.exit(1); });
