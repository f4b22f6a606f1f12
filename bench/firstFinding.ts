// Time to the first finding in the editor, over real LSP (the built server, stdio): didOpen → the first I2F001 on the
// config. Two paths side by side: the examples' Flower config naming an .onnx file (the ONNX path), and Flower's
// quickstart-pytorch app as published (no i2f: section, no ONNX: its Net found from the client app, built and
// exported by the workspace's Python, then analysed), cold (fresh storage: export included) and warm (the export and
// the result cached, as after a restart), and configs naming a catalogue architecture (FedML's lr for mnist,
// torchvision's resnet18 for cifar10: the graph written into the storage, then analysed). Needs a Python with torch
// for the Flower app (Debian's python3-torch).

import { cpSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Diagnostic } from 'vscode-languageserver';
import { leakageOf, REPO, startServer } from '../test/protocol/lspClient';

export interface FirstFindingBench {
  python: string;
  rows: { path: string; config: string; coldMs?: number; warmMs?: number; risk?: string; note?: string }[];
}

const QUICKSTART = join(REPO, 'test', 'fixtures', 'python', 'flower-quickstart-pytorch');
/** Configs that name their model by architecture (no model file): the catalogue writes the ONNX into the storage. */
const CATALOGUE = join(REPO, 'test', 'fixtures', 'catalogue');
const TIMEOUT_MS = 10 * 60_000;
/** The finished analysis's finding: its I2F001 (not the provisional one a running solve publishes), or I2F002. */
const leakage = (d: Diagnostic[]) => leakageOf(d) ?? d.find((x) => x.code === 'I2F002');

/** didOpen → first I2F001 (or I2F002) on `rel`, in ms; the server is started fresh on `storage` each time. */
async function timeToFinding(rel: string, storage: string, python: string): Promise<{ ms: number; d: Diagnostic }> {
  const s = await startServer({
    settings: { python, maxSamples: 1 },
    initializationOptions: { storagePath: storage },
    prepare: (w) => {
      cpSync(QUICKSTART, join(w, 'quickstart-pytorch'), { recursive: true });
      for (const d of ['fedml-mnist-lr', 'resnet18-cifar10']) cpSync(join(CATALOGUE, d), join(w, d), { recursive: true });
    },
  });
  try {
    // Let discovery finish first: the measured span is the opened config's own.
    await s.waitFor('workspace discovery', () => s.log.some((l) => l.startsWith('discovered ')), 60_000);
    const t0 = performance.now();
    const uri = s.open(rel);
    const d = await s.waitForDiagnostics(uri, (x) => !!leakage(x), TIMEOUT_MS);
    return { ms: performance.now() - t0, d: leakage(d)! };
  } finally {
    await s.close();
  }
}

export async function measureFirstFinding(python = '/usr/bin/python3', only?: string): Promise<FirstFindingBench> {
  const rows: FirstFindingBench['rows'] = [];
  for (const [path, rel] of [
    ['ONNX file (examples/flower, MLP 784-256-10)', 'flower/pyproject.toml'],
    ['Flower app, Python export (quickstart-pytorch Net, 62,006 θ)', 'quickstart-pytorch/pyproject.toml'],
    ['Catalogue, FedML model: lr, dataset: mnist (7,850 θ)', 'fedml-mnist-lr/fedml_config.yaml'],
    ['Catalogue, torchvision resnet18 for cifar10 (11.2M θ)', 'resnet18-cifar10/config.yaml'],
  ] as const) {
    if (only && !rel.startsWith(only)) continue;
    // Storage outside the temp workspace, so the warm run (a new server, a new workspace copy) finds the cache.
    const storage = join(REPO, 'bench', 'out', `first-finding-${rel.split('/')[0]}`);
    rmSync(storage, { recursive: true, force: true });
    try {
      const cold = await timeToFinding(rel, storage, python);
      const warm = await timeToFinding(rel, storage, python);
      rows.push({ path, config: rel, coldMs: cold.ms, warmMs: warm.ms, ...(cold.d.code === 'I2F001' ? { risk: String(cold.d.message.split(':')[0]) } : { note: cold.d.message.split('\n')[0] }) });
    } catch (e) {
      rows.push({ path, config: rel, note: `failed: ${(e as Error).message.split('\n')[0]}` });
    } finally {
      rmSync(storage, { recursive: true, force: true });
    }
  }
  return { python, rows };
}

export function renderFirstFinding(b: FirstFindingBench): string[] {
  const out = [`\nTime to the first finding in the editor (real LSP: didOpen → first I2F001; cold = fresh storage, warm = a new server on the same storage; Python ${b.python})`];
  for (const r of b.rows) {
    const t = (ms?: number) => (ms === undefined ? '–' : `${(ms / 1000).toFixed(2)} s`);
    out.push(`  ${r.path.padEnd(62)} cold ${t(r.coldMs).padStart(8)}  warm ${t(r.warmMs).padStart(8)}  ${r.risk ?? r.note ?? ''}`);
  }
  return out;
}

if (require.main === module) {
  // node --import tsx bench/firstFinding.ts [PYTHON] [CONFIG-FOLDER]: one row only with the second argument.
  void measureFirstFinding(process.argv[2], process.argv[3]).then((b) => console.log(renderFirstFinding(b).join('\n')));
}
