// The defence-spec parser (--defense, i2f.defences) on arbitrary and near-valid text: every spec it accepts holds
// values the defence allows (checked here against the documented ranges, not the parser's own table) and reads back
// the same from its canonical form; everything else is a 'bad-defence' UserError that quotes the spec.

import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { describeDefence, parseDefence, type DefenceModel } from '../../../server/src/engine/defences';
import { UserError } from '../../../server/src/errors';
import { seeded } from '../../support/property';

/** The allowed values, written out independently of defences.ts (README "Defences"). */
function allowed(d: DefenceModel): boolean {
  const finite = (x: number) => typeof x === 'number' && Number.isFinite(x);
  switch (d.kind) {
    case 'gaussian': return finite(d.std) && d.std >= 0;
    case 'dpsgd': return finite(d.clip) && d.clip > 0 && finite(d.noise) && d.noise >= 0;
    case 'prune':
    case 'topk': return finite(d.ratio) && d.ratio >= 0 && d.ratio <= 1;
    case 'quantize': return Number.isInteger(d.bits) && d.bits >= 2 && d.bits <= 32;
  }
}

const KEYS: Record<DefenceModel['kind'], string[]> = { gaussian: ['std'], dpsgd: ['clip', 'noise'], prune: ['ratio'], quantize: ['bits'], topk: ['ratio'] };

/** Specs from the parser's own vocabulary, mixed up: right and wrong kinds, keys, numbers, separators. */
const specish = fc
  .array(
    fc.oneof(
      fc.constantFrom('gaussian', 'dpsgd', 'prune', 'quantize', 'topk', 'GAUSSIAN', 'laplace', 'std', 'clip', 'noise', 'ratio', 'bits', 'sigma'),
      fc.constantFrom(':', '=', ',', ' ', '', '::', '=='),
      fc.constantFrom('0', '1', '-1', '0.5', '1.5', '2', '32', '33', '1e-3', '1e400', 'NaN', 'Infinity', '-0', '0x10', '.5', '5.', '1_000', ' 1 '),
      fc.string({ maxLength: 4 }),
    ),
    { maxLength: 12 },
  )
  .map((parts) => parts.join(''));

function check(spec: string): DefenceModel | undefined {
  try {
    const d = parseDefence(spec);
    assert.ok(allowed(d), `'${spec}' accepted as ${JSON.stringify(d)}, outside the allowed values`);
    assert.deepEqual(Object.keys(d).sort(), ['kind', ...KEYS[d.kind]].sort(), `'${spec}' → ${JSON.stringify(d)}: keys`);
    assert.deepEqual(parseDefence(describeDefence(d)), d, `'${spec}': canonical form reads back the same`);
    return d;
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    assert.ok(e instanceof UserError, `'${spec}' threw ${String(e)}`);
    assert.equal(e.code, 'bad-defence');
    assert.ok(e.message.includes(`'${spec}'`), `the message quotes the spec: ${e.message}`);
    return undefined;
  }
}

test('any text: a defence within its allowed values that reads back the same, or a bad-defence UserError quoting it', () => {
  fc.assert(fc.property(fc.oneof(specish, fc.string({ unit: 'binary', maxLength: 40 })), (spec) => void check(spec)), seeded({ seed: 9, numRuns: 2000 }));
});

test('every valid defence, written with any case, spacing and key order, parses to itself', () => {
  const ratio = fc.double({ min: 0, max: 1, noNaN: true });
  const positive = fc.double({ min: Number.MIN_VALUE, max: 1e6, noNaN: true });
  const nonNegative = fc.double({ min: 0, max: 1e6, noNaN: true });
  const defence: fc.Arbitrary<DefenceModel> = fc.oneof(
    nonNegative.map((std) => ({ kind: 'gaussian' as const, std })),
    fc.tuple(positive, nonNegative).map(([clip, noise]) => ({ kind: 'dpsgd' as const, clip, noise })),
    ratio.map((r) => ({ kind: 'prune' as const, ratio: r })),
    fc.integer({ min: 2, max: 32 }).map((bits) => ({ kind: 'quantize' as const, bits })),
    ratio.map((r) => ({ kind: 'topk' as const, ratio: r })),
  );
  const space = fc.constantFrom('', ' ', '  ', '\t');
  fc.assert(
    fc.property(defence, fc.boolean(), fc.boolean(), space, space, (d, upper, reversed, s1, s2) => {
      const keys = reversed ? [...KEYS[d.kind]].reverse() : KEYS[d.kind];
      const body = keys.map((k) => `${s1}${upper ? k.toUpperCase() : k}${s2}=${s1}${String((d as unknown as Record<string, number>)[k])}${s2}`).join(',');
      const spec = `${s1}${upper ? d.kind.toUpperCase() : d.kind}${s2}:${body}`;
      // -0 and 0 are the same defence; deepEqual tells them apart.
      const parsed = parseDefence(spec);
      assert.deepEqual(JSON.parse(JSON.stringify(parsed)), JSON.parse(JSON.stringify(d)), spec);
      check(spec);
    }),
    seeded({ seed: 9, numRuns: 1000 }),
  );
});
