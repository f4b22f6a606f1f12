import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parse, stringify } from 'smol-toml';
import { parseYamlConfig } from '../../../server/src/config/yamlConfig';
import { parseJsonConfig } from '../../../server/src/config/jsonConfig';
import { parseTomlConfig } from '../../../server/src/config/tomlConfig';
import { readTrainingConfig } from '../../../server/src/config/recognise';
import { checkTrainingSetup, syntaxFinding } from '../../../server/src/config/rules';
import type { ParseOutcome, Range } from '../../../server/src/config/keyTree';
import { seeded } from '../../support/property';

function validRange(r: Range, text: string): boolean {
  const lines = text.split('\n').length;
  const ok = (p: { line: number; character: number }) =>
    Number.isInteger(p.line) && Number.isInteger(p.character) && p.line >= 0 && p.character >= 0 && p.line < lines + 1;
  return ok(r.start) && ok(r.end) && (r.end.line > r.start.line || (r.end.line === r.start.line && r.end.character >= r.start.character));
}

function wellFormed(out: ParseOutcome, text: string): void {
  if (out.kind === 'syntax-error') {
    assert.ok(validRange(out.range, text));
    assert.equal(out.error.location.line, out.range.start.line);
    assert.ok(out.error.message.length > 0);
  } else {
    for (const e of out.tree.entries) {
      assert.ok(validRange(e.keyRange, text) && validRange(e.valueRange, text));
    }
  }
}

/** Text that looks like config files often enough to reach deep parser paths, mixed with arbitrary strings. */
const configish = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc
    .array(
      fc.tuple(
        fc.constantFrom(
          'privacy:', '  noise_multiplier: 1.1', 'batch_size: 0', '- a', '&x', '*x', '<<: *x', '{', '}', '[', ']', '"', "'",
          '"""', '=', ' = ', ',', ':', '#', '${privacy.sigma}', '[tool.flwr.app.config]', 'noise-multiplier = 1.0',
          '[[a]]', '"sigma0": 0.1', '\t', '\\', 'i2f:', '  model: m.onnx', 'nan', '-1', '1e309',
        ),
        fc.constantFrom('\n', ' ', '', '\r\n'),
      ),
      { maxLength: 30 },
    )
    .map((pairs) => pairs.map(([token, separator]) => token + separator).join('')),
);

for (const [name, parse] of [
  ['YAML', parseYamlConfig],
  ['JSON', parseJsonConfig],
  ['TOML', parseTomlConfig],
] as const) {
  test(`the ${name} parser returns a tree or a located error for any text, never a throw`, () => {
    fc.assert(
      fc.property(configish, (text) => {
        wellFormed(parse(`/w/f.${name.toLowerCase()}`, text), text);
      }),
      seeded({ numRuns: 400 }),
    );
  });
}

test('reading and checking any text as a config never throws', () => {
  fc.assert(
    fc.property(configish, fc.constantFrom('c.yaml', 'c.json', 'pyproject.toml'), (text, name) => {
      const r = readTrainingConfig(`/w/${name}`, text, { fileExists: () => false });
      if (r === null) return;
      const findings = 'kind' in r ? [syntaxFinding(r)] : checkTrainingSetup(r, { modelOps: ['BatchNormalization'] });
      for (const f of findings) assert.match(f.code, /^I2F1\d\d$/);
    }),
    seeded({ numRuns: 400 }),
  );
});

test('the TOML scanner finds every leaf smol-toml reads, at the text of its value', () => {
  const key = fc.stringMatching(/^[a-z][a-z0-9_-]{0,8}$/);
  const scalar = fc.oneof(fc.integer({ min: -1000, max: 1000 }), fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 }), fc.boolean(), fc.string({ maxLength: 12 }));
  const table = fc.dictionary(key, fc.oneof(scalar, fc.array(scalar, { maxLength: 3 }), fc.dictionary(key, scalar, { maxKeys: 3 })), { maxKeys: 6 });
  fc.assert(
    fc.property(table, (data) => {
      const text = stringify(data);
      const out = parseTomlConfig('/w/pyproject.toml', text);
      assert.equal(out.kind, 'tree');
      if (out.kind !== 'tree') return;
      const lines = text.split('\n');
      const slice = (r: Range) =>
        r.start.line === r.end.line ? lines[r.start.line].slice(r.start.character, r.end.character) : undefined;
      let leaves = 0;
      const count = (v: unknown): void => {
        if (Array.isArray(v)) v.forEach(count);
        else if (v !== null && typeof v === 'object') Object.values(v).forEach(count);
        else leaves++;
      };
      count(data);
      assert.equal(out.tree.entries.length, leaves, text);
      for (const e of out.tree.entries) {
        const written = slice(e.valueRange);
        if (written === undefined) continue;
        const reread = (parse(`x = ${written}`) as { x: unknown }).x;
        assert.deepEqual(reread, e.value, `${e.path.join('.')} in\n${text}`);
      }
    }),
    seeded({ numRuns: 300 }),
  );
});
