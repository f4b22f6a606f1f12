// Time to a graded band in the editor (issue 18, part 3), over real LSP (the built server, stdio, its worker): didOpen
// of a DP config naming a large model → the first I2F001 published while the solve runs ("so far": λmax, I_lb and the
// I²F's band) and the first one whose band is settled (it no longer straddles a risk threshold, so the level shown is
// the final one). The solve is left running only until then (or --cap seconds).
//
//   node --import tsx bench/firstBand.ts [bench/out/resnet50.onnx] [--cap 900] [--noise 1.1] [--clip 1.0]
//
// ResNet-50 runs only under `flock /work/wt/resnet50.lock nice …` on the shared machine (≈4 GB RSS). The last line is
// the JSON result. Quote it with the load average printed beside it.

import { symlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadavg } from 'node:os';
import type { Diagnostic } from 'vscode-languageserver';
import { startServer } from '../test/protocol/lspClient';
import { numberOption, onnxArgument } from './common';

export interface FirstBandResult {
  model: string;
  defence: string;
  /** didOpen → the first provisional I2F001 (ms), with its message. */
  firstBandMs?: number;
  firstBand?: string;
  /** didOpen → the first provisional I2F001 whose band is settled (ms). */
  gradedBandMs?: number;
  gradedBand?: string;
  /** didOpen → the final I2F001, when it came within the cap. */
  finalMs?: number;
  capSeconds: number;
  loadAverage: number[];
}

const PROVISIONAL = /so far \(the I²F solve is running/;
const STRADDLING = /\(provisional:/;

export async function timeToGradedBand(model: string, opts: { capSeconds?: number; noise?: number; clip?: number } = {}): Promise<FirstBandResult> {
  const cap = opts.capSeconds ?? 900;
  const noise = opts.noise ?? 1.1, clip = opts.clip ?? 1.0;
  const config = ['# DP-SGD on a large model (bench/firstBand.ts)', 'training:', '  batch_size: 1', 'privacy:', `  noise_multiplier: ${noise}`, `  max_grad_norm: ${clip}`, 'i2f:', '  model: model.onnx', ''].join('\n');
  const s = await startServer({
    settings: { maxSamples: 1, maxModelSizeMB: 4096, workerMemoryMB: 8192, provisionalFindings: true },
    // A link, not a copy: ResNet-50 is 100 MB (a model with ONNX external data would need its folder linked).
    prepare: (w) => symlinkSync(resolve(model), join(w, 'model.onnx')),
  });
  const out: FirstBandResult = { model, defence: `dpsgd:clip=${clip},noise=${noise}`, capSeconds: cap, loadAverage: loadavg() };
  try {
    await s.waitFor('workspace discovery', () => s.log.some((l) => l.startsWith('discovered ')), 120_000);
    const t0 = performance.now();
    const seen: { ms: number; d: Diagnostic }[] = [];
    const uri = s.uri('train.yaml');
    s.connection.onNotification('textDocument/publishDiagnostics', (p: { uri: string; diagnostics: Diagnostic[] }) => {
      s.diagnostics.set(p.uri, p.diagnostics);
      const f = p.uri === uri ? p.diagnostics.find((x) => x.code === 'I2F001' || x.code === 'I2F002') : undefined;
      if (f) seen.push({ ms: performance.now() - t0, d: f });
    });
    s.open('train.yaml', config);
    await s.waitFor('a graded band or the result', () => seen.find((x) => !PROVISIONAL.test(x.d.message) || !STRADDLING.test(x.d.message)), cap * 1000)
      .catch(() => undefined);
    const first = seen.find((x) => PROVISIONAL.test(x.d.message));
    const graded = seen.find((x) => PROVISIONAL.test(x.d.message) && !STRADDLING.test(x.d.message));
    const final = seen.find((x) => !PROVISIONAL.test(x.d.message));
    if (first) Object.assign(out, { firstBandMs: Math.round(first.ms), firstBand: first.d.message });
    if (graded) Object.assign(out, { gradedBandMs: Math.round(graded.ms), gradedBand: graded.d.message });
    if (final) out.finalMs = Math.round(final.ms);
    out.loadAverage = loadavg();
    return out;
  } finally {
    await s.close();
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const opt = (k: string) => numberOption(args, k);
  const model = onnxArgument(args);
  const r = await timeToGradedBand(model, { capSeconds: opt('--cap'), noise: opt('--noise'), clip: opt('--clip') });
  const sec = (ms?: number) => (ms === undefined ? 'not within the cap' : `${(ms / 1000).toFixed(1)} s`);
  // The run stops at the first settled band: the result is timed only when it came first.
  console.log(`${model} under ${r.defence}: first band ${sec(r.firstBandMs)}, settled band ${sec(r.gradedBandMs)}, result ${r.finalMs === undefined ? 'not waited for' : sec(r.finalMs)} (load average ${r.loadAverage.map((x) => x.toFixed(1)).join(' ')})`);
  if (r.gradedBand) console.log(`graded: ${r.gradedBand}`);
  console.log(JSON.stringify(r));
}

if (require.main === module) main().catch((e) => {
  console.error(e);
  process.exit(1);
});
