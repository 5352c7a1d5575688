// The WGL register checker used by the process tests: it must reject what is not linearizable
// and accept what is.
import test from 'ava';
import { Rng, testSeed } from '@flashkv/core/testing';
import { checkRegister, type RegisterOp } from './linearizability.js';

const put = (value: string, call: number, ret: number): RegisterOp => ({ kind: 'put', value, call, ret });
const get = (value: string | undefined, call: number, ret: number): RegisterOp => ({ kind: 'get', value, call, ret });

test('rejects a stale read after a completed write', (t) => {
  t.false(checkRegister([put('a', 0, 1), put('b', 2, 3), get('a', 4, 5)]));
});

test('rejects a read of a value nobody wrote, and a read of the initial value after a write finished', (t) => {
  t.false(checkRegister([put('a', 0, 1), get('zz', 2, 3)]));
  t.false(checkRegister([put('a', 0, 1), get(undefined, 2, 3)]));
});

test('rejects two reads that see concurrent writes in opposite orders (no single order fits both)', (t) => {
  // Writes a and b overlap everything; reader 1 sees a then b, reader 2 sees b then a, strictly after each other.
  const h = [put('a', 0, 100), put('b', 0, 100), get('a', 10, 11), get('b', 12, 13), get('a', 14, 15)];
  t.false(checkRegister(h));
});

test('rejects a value that reappears after it was overwritten, even through an unknown write', (t) => {
  // `c` is unknown (pending) but can take effect only once: a, c, b, c is impossible.
  const h = [put('a', 0, 1), put('c', 2, Infinity), get('c', 3, 4), put('b', 5, 6), get('c', 7, 8)];
  t.false(checkRegister(h));
});

test('accepts concurrent writes read in either order, and unknown writes that took effect or never did', (t) => {
  t.true(checkRegister([put('a', 0, 10), put('b', 0, 10), get('b', 1, 2), get('a', 11, 12)]));
  t.true(checkRegister([put('a', 0, 10), put('b', 0, 10), get('b', 1, 2), get('b', 11, 12)]));
  t.true(checkRegister([put('a', 0, 10), put('b', 0, 10), get('a', 1, 2), get('b', 3, 4)]));
  t.true(checkRegister([put('a', 0, 1), put('x', 2, Infinity), get('a', 3, 4)]));
  t.true(checkRegister([put('a', 0, 1), put('x', 2, Infinity), get('x', 30, 40)]));
  t.true(checkRegister([get(undefined, 0, 1), put('a', 0, 5), get('a', 2, 3), get('a', 6, 7)]));
});

test('accepts every history produced by a real register under random concurrency, and rejects it once a read is corrupted (seeded)', (t) => {
  const seed = testSeed();
  t.log(`SEED=${seed}`);
  const rng = new Rng(seed);
  for (let round = 0; round < 60; round++) {
    // Each op takes effect at one instant inside [call, ret]; the register is applied in that order.
    const n = 30 + rng.int(40);
    const ops: { kind: 'put' | 'get'; at: number; call: number; ret: number; value?: string; pending: boolean }[] = [];
    // Distinct instants: two effects at one instant could be ordered either way by the generator,
    // while the checker orders a return before a call at the same time.
    const instants = rng.shuffle(Array.from({ length: 1000 }, (_, i) => i * 10 + 5));
    for (let i = 0; i < n; i++) {
      const at = instants[i]!;
      const kind = rng.chance(0.5) ? 'put' : 'get';
      ops.push({ kind, at, call: at - rng.int(60), ret: at + rng.int(60), pending: kind === 'put' && rng.chance(0.1), ...(kind === 'put' ? { value: `v${i}` } : {}) });
    }
    let reg: string | undefined;
    const history: RegisterOp[] = [];
    for (const o of [...ops].sort((a, b) => a.at - b.at)) {
      if (o.kind === 'put') {
        if (!o.pending || rng.chance(0.5)) reg = o.value; // an unknown write that took effect or did not
        history.push(put(o.value!, o.call, o.pending ? Infinity : o.ret));
      } else history.push(get(reg, o.call, o.ret));
    }
    t.true(checkRegister(history), `SEED=${seed} round ${round}`);
    // Corrupt one read to a value no put ever wrote: no order explains it.
    const reads = history.map((h, i) => [h, i] as const).filter(([h]) => h.kind === 'get');
    if (reads.length === 0) continue;
    const [, at] = rng.pick(reads);
    const bad = history.slice();
    bad[at] = { ...history[at]!, value: 'never-written' };
    t.false(checkRegister(bad), `SEED=${seed} round ${round}: corrupted read accepted`);
  }
});
