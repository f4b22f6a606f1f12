// Responsiveness budgets that used to be wall-clock assertions inside tests (where a loaded machine failed them and
// a fast one proved nothing): each is measured here, in `npm run bench` (--no-responsiveness leaves them out), and
// reported PASS/MISS beside the other targets. The tests keep the evidence that does not depend on the clock
// (the order of events, answers from the cache, no analysis queued).
//   npm run -s build && node --import tsx bench/responsiveness.ts     this section alone
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { parseYamlConfig } from '../server/src/config/yamlConfig';
import { ProtoWriter } from '../server/src/backends/onnx/protobuf';
import { addDpConfig } from '../test/protocol/fixtures';
import { startServer, type Session } from '../test/protocol/lspClient';
import type { SpectrumDataResult, SpectrumNoiseResult } from '../server/src/protocol';

const ROOT = join(__dirname, '..');
const CLI = join(ROOT, 'dist/cli.js');

export interface Budget { target: string; ms: number; limitMs: number }

const leakage = (d: { code?: unknown; message: string }[]) => d.find((x) => x.code === 'I2F001');

async function timed(f: () => Promise<unknown> | unknown): Promise<number> {
  const t0 = performance.now();
  await f();
  return performance.now() - t0;
}

async function withServer<T>(f: (s: Session) => Promise<T>, options: Parameters<typeof startServer>[0] = {}): Promise<T> {
  const s = await startServer(options);
  try {
    return await f(s);
  } finally {
    await s.close();
  }
}

/** Measures every budget once (the editor's ones on a fresh server over a copy of examples/). */
export async function measureBudgets(log: (s: string) => void = () => {}): Promise<Budget[]> {
  const out: Budget[] = [];
  const add = (target: string, ms: number, limitMs: number) => {
    out.push({ target, ms, limitMs });
    log(`  ${target}: ${ms.toFixed(0)} ms (budget ${limitMs} ms)`);
  };

  await withServer(async (s) => {
    let uri = '';
    add('cheap rules of a config just opened', await timed(async () => {
      uri = s.open('flower/pyproject.toml');
      await s.waitForDiagnostics(uri, (d) => d.some((x) => x.code === 'I2F112'), 60_000);
    }), 5_000);
    await s.waitForDiagnostics(uri, (d) => !!leakage(d), 300_000);
    const weak = readFileSync(s.path('flower/pyproject.toml'), 'utf8').replace('noise-multiplier = 0.3', 'noise-multiplier = 0.0001');
    add('a noise-only edit answered from the cache', await timed(async () => {
      s.change(uri, 2, weak);
      await s.waitForDiagnostics(uri, (d) => /std=1e-4|std=0\.0001/.test(leakage(d)?.message ?? ''), 60_000);
    }), 1_000);
    const r = (await s.connection.sendRequest('i2f/spectrumData', { uri, k: 4 })) as SpectrumDataResult;
    if (!r.ok) throw new Error(`spectrumData: ${r.message}`);
    add('the spectrum panel re-evaluates a new noise level', await timed(async () => {
      const n = (await s.connection.sendRequest('i2f/spectrumNoise', { key: r.data.key, std: 2 * r.data.settings.configuredStd })) as SpectrumNoiseResult;
      if (!n.ok) throw new Error(`spectrumNoise: ${n.message}`);
    }), 1_000);
  });

  const storage = mkdtempSync(join(tmpdir(), 'i2f-bench-storage-'));
  try {
    await withServer(async (s) => { await s.waitForDiagnostics(s.open('dp/train.yaml'), (d) => !!leakage(d), 300_000); },
      { prepare: addDpConfig, initializationOptions: { storagePath: storage } });
    await withServer(async (s) => {
      add('a restarted server shows a stored result', await timed(() => s.waitForDiagnostics(s.open('dp/train.yaml'), (d) => !!leakage(d), 60_000)), 3_000);
    }, { prepare: addDpConfig, initializationOptions: { storagePath: storage } });
  } finally {
    rmSync(storage, { recursive: true, force: true });
  }

  for (const b of await measureSigmaFirst()) add(b.target, b.ms, b.limitMs);

  const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
  for (let i = 1; i < 10; i++) bomb.push(`${'abcdefghij'[i]}: &${'abcdefghij'[i]} [${Array(9).fill('*' + 'abcdefghij'[i - 1]).join(',')}]`);
  add('a YAML alias bomb refused', await timed(() => parseYamlConfig('/w/bomb.yaml', bomb.join('\n') + '\n')), 1_000);

  const big = new Float32Array(4 * 1024 * 1024).map((_, i) => i * 0.5);
  add('16 MB of float32 written as ONNX protobuf', await timed(() => {
    const w = new ProtoWriter(16);
    w.message(5, () => w.typedArrayBytes(9, big));
    w.finish();
  }), 1_000);

  const cache = mkdtempSync(join(tmpdir(), 'i2f-bench-cache-'));
  try {
    const audit = () => spawnSync(process.execPath, [CLI, 'audit', join(ROOT, 'examples'), '--format', 'json', '--cache-dir', cache], { encoding: 'utf8', maxBuffer: 256 << 20 });
    const first = audit();
    if (first.status !== 0 && first.status !== 1) throw new Error(`i2f audit exited ${first.status}: ${first.stderr.slice(-400)}`);
    add('`i2f audit` of examples/ from its cache', await timed(audit), 60_000);
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
  return out;
}

const TUTORIAL = join(ROOT, 'test', 'fixtures', 'upstream-python', 'pytorch+opacus', 'tutorials', 'building_image_classifier.ipynb');

/**
 * Opacus' image-classifier tutorial opened as a notebook with an empty σ memo (its own budget: ε 50, δ 1e-5, 20
 * epochs, the PRV search that took 71–78 s here): the DP cell's first findings (the clipping-only reading with I2F167,
 * published before the search), then the reading at σ. Untrusted, so no model analysis shares the cores with the search.
 */
export async function measureSigmaFirst(): Promise<Budget[]> {
  return withServer(async (s) => {
    const t0 = performance.now();
    const nb = s.openNotebook('tutorials/building_image_classifier.ipynb');
    const dp = nb.cells.find((c) => c.text.includes('make_private_with_epsilon'))!.uri;
    await s.waitForDiagnostics(dp, (d) => d.some((x) => x.code === 'I2F167'), 60_000);
    const first = performance.now() - t0;
    await s.waitForDiagnostics(dp, (d) => /noise multiplier 0\.37/.test(d.find((x) => x.code === 'I2F140')?.message ?? ''), 600_000);
    return [
      { target: 'make_private_with_epsilon notebook, σ unknown: first DP findings', ms: first, limitMs: 5_000 },
      { target: 'make_private_with_epsilon notebook: the reading at σ (PRV search)', ms: performance.now() - t0, limitMs: 180_000 },
    ];
  }, {
    prepare: (w) => {
      mkdirSync(join(w, 'tutorials'));
      cpSync(TUTORIAL, join(w, 'tutorials', 'building_image_classifier.ipynb'));
    },
    initializationOptions: { trusted: false },
  });
}

if (require.main === module) {
  measureBudgets(console.log).then((b) => {
    const miss = b.filter((x) => x.ms > x.limitMs).length;
    console.log(`${b.length - miss} PASS, ${miss} MISS`);
  }, (e) => {
    console.error(e);
    process.exit(1);
  });
}
