// Issue 14, item 7: every recognised config is listed; one the audit did not analyse says what is missing and the
// one-line fix, in every format; a single file that is not a training config says why.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { auditPaths } from '../../../server/src/analysis/audit';
import { formatText } from '../../../server/src/analysis/report/text';
import { toAuditJson } from '../../../server/src/analysis/report/json';
import { toSarif } from '../../../server/src/analysis/report/sarif';
import { toHtml } from '../../../server/src/analysis/report/html';

const TENSORFLOW_APP = join(__dirname, '..', '..', 'fixtures', 'python', 'flower-quickstart-tensorflow');

function workspace(): string {
  const root = mkdtempSync(join(tmpdir(), 'i2f-explain-'));
  const put = (rel: string, text: string) => {
    mkdirSync(join(root, rel, '..'), { recursive: true });
    writeFileSync(join(root, rel), text);
  };
  put('nomodel/train.yaml', 'privacy:\n  noise_multiplier: 1.0\n  max_grad_norm: 1.0\nbatch_size: 8\n');
  put('missing/train.yaml', 'batch_size: 8\nmodel_path: models/net.onnx\n');
  put('weights-only/train.yaml', 'batch_size: 8\nweights: round-3.safetensors\n');
  put('weights-only/round-3.safetensors', '');
  put('json/config.json', '{"noise_multiplier": 1.0, "max_grad_norm": 1.0}\n');
  put('notes.yaml', 'title: my notes\ntags: [a, b]\n');
  put('package.json', '{"name": "x"}\n');
  put('README.md', '# hi\n');
  cpSync(TENSORFLOW_APP, join(root, 'tf-app'), { recursive: true });
  return root;
}

test('each config not analysed is listed with what is missing and the one-line fix in its own syntax', async () => {
  const root = workspace();
  const run = await auditPaths([root], { noCache: true });
  const by = new Map(run.roots[0].configs.map((c) => [c.file.slice(root.length + 1), c]));
  assert.deepEqual([...by.keys()].sort(), ['json/config.json', 'missing/train.yaml', 'nomodel/train.yaml', 'tf-app/pyproject.toml', 'weights-only/train.yaml']);
  for (const c of by.values()) assert.equal(c.status, 'not-analysed', c.file);

  assert.equal(by.get('nomodel/train.yaml')!.reason, 'the config names no model');
  assert.match(by.get('nomodel/train.yaml')!.fix!, /^name the model: `i2f: \{ model: "pkg\.module:Factory" \}` \(a torch\.nn\.Module in your Python\), an architecture \(resnet18, .*\), or a model file/);
  assert.match(by.get('json/config.json')!.fix!, /`"i2f": \{ "model": "pkg\.module:Factory" \}`/);
  assert.match(by.get('missing/train.yaml')!.fix!, /^correct the model path \(line 2\): models\/net\.onnx does not exist/);
  assert.match(by.get('weights-only/train.yaml')!.fix!, /^round-3\.safetensors holds weights, not the network: name the model they belong to/);
  const tf = by.get('tf-app/pyproject.toml')!;
  assert.match(tf.reason!, /the Flower client app names no PyTorch model the bridge can find: no torch\.nn\.Module class is defined in tfexample\.client_app/);
  assert.match(tf.fix!, /`\[tool\.i2f\] model = "pkg\.module:Factory"`/);

  // Text: every config is listed, even one without findings, with its fix under it.
  const text = formatText(run, { color: false, cwd: root });
  for (const file of by.keys()) assert.match(text, new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} \\(not analysed: `, 'm'), file);
  assert.match(text, /^ {2}fix: name the model the clients train: `\[tool\.i2f\] model = "pkg\.module:Factory"`/m);
  // JSON: `fix` beside `reason`.
  const json = toAuditJson(run) as any;
  assert.equal(json.roots[0].configs.find((c: any) => c.file === 'missing/train.yaml').fix, by.get('missing/train.yaml')!.fix);
  // SARIF: a tool execution notification per config not analysed, located in it.
  const sarif = toSarif(run, {}) as any;
  const notes = sarif.runs[0].invocations[0].toolExecutionNotifications;
  assert.equal(notes.length, 5);
  const tfNote = notes.find((n: any) => n.locations[0].physicalLocation.artifactLocation.uri === 'tf-app/pyproject.toml');
  assert.match(tfNote.message.text, /^Not analysed: the Flower client app .*\. Fix: name the model the clients train/);
  assert.equal(tfNote.level, 'note');
  // HTML: the fix under each config's heading.
  const html = toHtml(run);
  assert.equal((html.match(/<p class="fix"><b>Fix:<\/b>/g) ?? []).length, 5);
});

test('a single file that is not a training config says why, in every format', async () => {
  const root = workspace();
  const cases: [string, RegExp][] = [
    ['notes.yaml', /^none of its keys says how training shares gradients/],
    ['package.json', /^package\.json is a tool's file, never a training config/],
    ['README.md', /^a \.md file is not a config format the audit reads/],
  ];
  for (const [file, why] of cases) {
    const run = await auditPaths([join(root, file)], { noCache: true });
    const r = run.roots[0];
    assert.equal(r.configs.length, 0);
    assert.equal(r.notAConfig?.file, join(root, file));
    assert.match(r.notAConfig!.reason, why, file);
    assert.match(formatText(run, { color: false, cwd: root }), new RegExp(`^${file.replace('.', '\\.')} is not a training config: `, 'm'));
    assert.equal((toAuditJson(run) as any).roots[0].notAConfig.file, file);
    assert.match((toSarif(run, {}) as any).runs[0].invocations[0].toolExecutionNotifications[0].message.text, /^Not a training config: /);
    assert.match(toHtml(run), /is not a training config: /);
  }
  // A real config given alone is audited, not explained away.
  const real = await auditPaths([join(root, 'nomodel', 'train.yaml')], { noCache: true });
  assert.equal(real.roots[0].notAConfig, undefined);
  assert.equal(real.roots[0].configs.length, 1);
});
