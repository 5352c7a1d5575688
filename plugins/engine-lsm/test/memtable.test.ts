import test from 'ava';
import { compareInternal, KIND_PUT } from '../src/keys.js';
import { entryValue, Memtable } from '../src/memtable.js';
import { randomBytes, rng, testSeed } from './helpers.js';

type Ref = { key: Uint8Array; seq: number };
const cmp = (a: Ref, b: Ref) => compareInternal(a.key, a.seq, b.key, b.seq);
const show = (e: Ref | null) => (e === null ? 'none' : `${Buffer.from(e.key).toString('hex')}@${e.seq}`);

test('memtable: iterators stay correct while inserts split leaves under them', (t) => {
  const seed = testSeed(8);
  const r = rng(seed);
  const mem = new Memtable(1);
  const ref: Ref[] = [];
  const it = mem.iterator();
  let seq = 0;
  let cur: Ref | null = null;
  for (let step = 0; step < 20000; step++) {
    const roll = r();
    if (roll < 0.6 || ref.length === 0) {
      const key = randomBytes(r, 1 + Math.floor(r() * 4));
      const e = { key, seq: ++seq };
      mem.add(key, e.seq, KIND_PUT, key);
      const i = ref.findIndex((x) => cmp(x, e) > 0);
      ref.splice(i < 0 ? ref.length : i, 0, e);
    } else if (cur === null || roll < 0.65) {
      const probe = { key: randomBytes(r, 2), seq: Math.floor(r() * seq) };
      it.seekGE(probe.key, probe.seq);
      cur = ref.find((x) => cmp(x, probe) >= 0) ?? null;
    } else if (roll < 0.83) {
      it.next();
      const i = ref.findIndex((x) => cmp(x, cur!) > 0);
      cur = i < 0 ? null : ref[i]!;
    } else {
      it.prev();
      const before = ref.filter((x) => cmp(x, cur!) < 0);
      cur = before.at(-1) ?? null;
    }
    const got = it.valid() ? { key: it.key(), seq: it.seq() } : null;
    if (show(got) !== show(cur)) {
      t.fail(`seed ${seed} step ${step}: got ${show(got)}, want ${show(cur)}`);
      return;
    }
  }
  t.is(mem.count, ref.length);
  t.true(mem.leaves.length > 10, 'leaves split');
  for (const e of ref.slice(0, 500)) t.is(mem.get(e.key, e.seq)!.seq, e.seq);
});

test('memtable: get returns the newest version at or below a sequence number; same (key, seq) overwrites', (t) => {
  const mem = new Memtable(1);
  const k = new Uint8Array([0, 1, 2]);
  mem.add(k, 5, KIND_PUT, new Uint8Array([5]));
  mem.add(k, 9, KIND_PUT, new Uint8Array([9]));
  t.is(mem.get(k, 4), undefined);
  t.is(entryValue(mem.get(k, 5)!)[0], 5);
  t.is(entryValue(mem.get(k, 8)!)[0], 5);
  t.is(entryValue(mem.get(k, 100)!)[0], 9);
  mem.add(k, 9, 0, new Uint8Array(0));
  t.is(mem.get(k, 100)!.kind, 0);
  t.is(mem.count, 2);
  t.is(mem.get(new Uint8Array([0, 1]), 100), undefined);
  t.is(mem.get(new Uint8Array([0, 1, 2, 3]), 100), undefined);
});
