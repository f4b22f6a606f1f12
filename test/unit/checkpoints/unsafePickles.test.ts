// Hostile checkpoints: pickles whose loading runs a command (tools/fixtures/checkpoint_fixtures.py shows real
// torch.load runs each payload) are refused with the offending global named, and nothing runs: the sentinel file
// their command would create never appears.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCheckpoint } from '../../../server/src/checkpoints/readCheckpoint';
import { OnnxModel } from '../../../server/src/backends/onnx/onnxModel';
import { UserError } from '../../../server/src/errors';

const dir = join(__dirname, '..', '..', 'fixtures', 'checkpoints');
const ref = JSON.parse(readFileSync(join(dir, 'reference.json'), 'utf8'));

const CASES: [string, string][] = [
  ['evil_reduce.pt', 'posix.system'],
  ['evil_eval.pt', '__builtin__.eval'],
  ['evil_builtins.pt', 'builtins.eval'],
  ['evil_os.pt', 'os.system'],
];

test('the generator proved that torch.load runs every payload below', () => {
  for (const [file] of CASES) assert.equal(ref.torchLoadRanPayload[file], true, file);
  assert.ok(ref.globalsInEvilPickles['evil_reduce.pt'].includes('posix.system'));
  assert.ok(ref.globalsInEvilPickles['evil_builtins.pt'].includes('builtins.eval'));
});

for (const [file, global] of CASES) {
  test(`${file} is refused with '${global}' named, and its command never runs`, async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'i2f-sentinel-'));
    const sentinel = join(tmp, 'sentinel');
    const before = process.env.I2F_SENTINEL;
    process.env.I2F_SENTINEL = sentinel;
    try {
      await assert.rejects(readCheckpoint(join(dir, file)), (e: unknown) => {
        assert.ok(e instanceof UserError, String(e));
        assert.equal(e.code, 'unsafe-checkpoint');
        assert.ok(e.message.includes(`'${global}'`), e.message);
        return true;
      });
      // The same through the path the analysis takes.
      await assert.rejects(OnnxModel.open(join(dir, 'model.onnx'), { weights: join(dir, file) }), /refuses the global/);
      assert.equal(existsSync(sentinel), false, 'the payload ran');
    } finally {
      if (before === undefined) delete process.env.I2F_SENTINEL;
      else process.env.I2F_SENTINEL = before;
      rmSync(tmp, { recursive: true, force: true });
    }
  });
}
