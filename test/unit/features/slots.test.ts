// The FIFO semaphore the server refreshes configs through: never more holders than slots, waiters served in
// arrival order, a double release frees one slot only.

import test from 'node:test';
import assert from 'node:assert/strict';
import { Slots } from '../../../server/src/features/slots';

const tick = () => new Promise((r) => setImmediate(r));

test('at most `size` holders; the rest start in arrival order as slots free up', async () => {
  const slots = new Slots(3);
  let holding = 0;
  let most = 0;
  const order: number[] = [];
  const work = async (i: number) => {
    const release = await slots.acquire();
    order.push(i);
    holding++;
    most = Math.max(most, holding);
    for (let k = 0; k < 1 + ((i * 7) % 5); k++) await tick(); // uneven lengths
    holding--;
    release();
  };
  await Promise.all(Array.from({ length: 20 }, (_, i) => work(i)));
  assert.equal(most, 3);
  assert.deepEqual(order, Array.from({ length: 20 }, (_, i) => i));
  assert.equal(slots.pending, 0);
});

test('releasing twice frees one slot, not two', async () => {
  const slots = new Slots(1);
  const release = await slots.acquire();
  let second = false;
  let third = false;
  void slots.acquire().then(() => (second = true));
  void slots.acquire().then(() => (third = true));
  release();
  release();
  await tick();
  assert.equal(second, true);
  assert.equal(third, false, 'the double release must not let a second holder in');
});
