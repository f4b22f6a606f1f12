// Rounds of 5 vectors through gramBlock on ResNet-50 (maxBlock 3, one session alive at a time): the last chunk padded
// with a zero vector (oneBlockSize, engine/operator.ts) against a 3 + 2 split that rebuilds a session twice per round.
//   flock /work/wt/resnet50.lock nice node --import tsx bench/blockPadding.ts   (needs bench/out/resnet50.onnx)
import { benchOperator } from './measure';
import { gramBlock } from '../server/src/engine/operator';
import { Random } from '../server/src/engine/random';
import { loadavg } from 'node:os';
async function main() {
  const { op } = await benchOperator({ name: 'resnet50', file: 'bench/out/resnet50.onnx', description: 'ResNet-50 224×224', fixture: false, analysis: 'lambda' });
  const o = op;
  const n = o.inputSize;
  const r = new Random(7);
  const vs = Array.from({ length: 5 }, () => r.fillNormal(new Float64Array(n)));
  const outs = vs.map(() => new Float64Array(n));
  for (const pad of [true, false, true, false]) {
    const wrapped = { gramVector: op.gramVector.bind(op), gramVectors: op.gramVectors.bind(op), maxBlock: o.maxBlock, oneBlockSize: pad };
    const t0 = performance.now(), c0 = process.cpuUsage();
    for (let round = 0; round < 3; round++) await gramBlock(wrapped, vs, outs);
    const c = process.cpuUsage(c0);
    console.log(JSON.stringify({ pad, maxBlock: o.maxBlock, rounds: 3, wallS: ((performance.now() - t0) / 1000).toFixed(1), cpuS: ((c.user + c.system) / 1e6).toFixed(1), load: loadavg()[0].toFixed(1) }));
  }
  await op.dispose();
}
void main();
