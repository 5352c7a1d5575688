import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import { compareBytes } from '@flashkv/core';
import { Rng, bytes, latin1, testSeed, u32be } from '@flashkv/core/testing';
import { type BNode, CowBTree, lookup } from '../src/btree.js';
import { checkTree, type TreeShape } from '../src/check.js';
import { Cursor } from '../src/cursor.js';
import { OWN_BUFFER_BYTES, Slab } from '../src/slab.js';

/**
 * The copy-on-write B+tree against a naive model: a sorted array of latin1 strings (one char
 * per byte, so JS string order is byte order). Randomised tests draw from an Rng seeded by
 * `SEED` (or a fresh seed, logged); ava prints the log of a failing test, so the seed to
 * replay is always in the failure output.
 */

type Model = Map<string, string>;

function sortedEntries(model: Model): Array<[string, string]> {
  return [...model.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

/** Every entry reachable from `root`, in cursor order, as latin1 pairs. */
function walk(root: BNode): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const c = new Cursor(root);
  for (let ok = c.first(); ok; ok = c.next()) out.push([latin1(c.key()), latin1(c.value())]);
  return out;
}

function walkBack(root: BNode): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const c = new Cursor(root);
  for (let ok = c.last(); ok; ok = c.prev()) out.push([latin1(c.key()), latin1(c.value())]);
  return out.reverse();
}

/** Checks the invariants of `root` and that it holds exactly `expected`; returns its shape. */
function mustMatch(t: ExecutionContext, root: BNode, tree: CowBTree, expected: Array<[string, string]>, what: string): TreeShape {
  const shape = checkTree(root, tree);
  t.is(shape.entries, expected.length, `${what}: entry count`);
  t.deepEqual(walk(root), expected, `${what}: forward walk`);
  return shape;
}

/** Keys from a small alphabet with short lengths, so prefixes, zero bytes and equal heads are common. */
function randomKey(rng: Rng): Uint8Array {
  const alphabet = [0x00, 0x01, 0x02, 0x61, 0x62, 0x7f, 0x80, 0xfe, 0xff];
  const kind = rng.int(4);
  if (kind === 0) {
    // Keys sharing a 6-byte prefix: heads tie and the bytes after them decide.
    const k = bytes('prefix');
    const tail = rng.bytes(rng.between(0, 4)).map((b) => b & 3);
    const out = new Uint8Array(k.length + tail.length);
    out.set(k);
    out.set(tail, k.length);
    return out;
  }
  const len = rng.between(0, kind === 1 ? 3 : 8);
  const out = new Uint8Array(len);
  for (let i = 0; i < len; i++) out[i] = rng.pick(alphabet);
  return out;
}

function seeded(t: ExecutionContext): Rng {
  const seed = testSeed();
  t.log(`seed ${seed} (replay with SEED=${seed})`);
  return new Rng(seed);
}

const SHAPES = [
  { leafSize: 3, branchSize: 4 },
  { leafSize: 4, branchSize: 5 },
  { leafSize: 7, branchSize: 8 },
  { leafSize: 64, branchSize: 64 },
];

test('random puts, deletes and range deletes match a sorted-array model at every node size', (t) => {
  const rng = seeded(t);
  for (const shape of SHAPES) {
    const tree = new CowBTree(shape);
    const slab = new Slab();
    const model: Model = new Map();
    const what = `leaf ${shape.leafSize} branch ${shape.branchSize}`;
    for (let step = 0; step < 4000; step++) {
      const r = rng.float();
      const k = randomKey(rng);
      if (r < 0.6) {
        const v = rng.bytes(rng.between(0, 6));
        tree.set(k, v, slab);
        model.set(latin1(k), latin1(v));
      } else if (r < 0.9) {
        const had = model.delete(latin1(k));
        t.is(tree.delete(k), had, `${what} step ${step}: delete reports presence`);
      } else {
        const k2 = randomKey(rng);
        const [lo, hi] = compareBytes(k, k2) <= 0 ? [k, k2] : [k2, k];
        let n = 0;
        for (const key of [...model.keys()]) {
          if (key >= latin1(lo) && key < latin1(hi)) {
            model.delete(key);
            n++;
          }
        }
        t.is(tree.deleteRange(lo, hi), n, `${what} step ${step}: deleteRange count`);
      }
      t.is(tree.size, model.size, `${what} step ${step}: size`);
      if (step % 250 === 0) checkTree(tree.peek(), tree);
      const probe = randomKey(rng);
      const got = tree.get(probe);
      const want = model.get(latin1(probe));
      t.is(got === undefined ? undefined : latin1(got), want, `${what} step ${step}: get`);
    }
    mustMatch(t, tree.peek(), tree, sortedEntries(model), what);
    t.deepEqual(walkBack(tree.peek()), sortedEntries(model), `${what}: backward walk`);
  }
});

test('ascending, descending and shuffled loads and deletions keep every invariant after every op', (t) => {
  const rng = seeded(t);
  const n = 700;
  const orders: Array<[string, number[]]> = [
    ['ascending', [...Array(n).keys()]],
    ['descending', [...Array(n).keys()].reverse()],
    ['shuffled', rng.shuffle([...Array(n).keys()])],
  ];
  for (const [insertName, insertOrder] of orders) {
    for (const [deleteName, deleteOrder] of orders) {
      const tree = new CowBTree({ leafSize: 3, branchSize: 4 });
      const slab = new Slab();
      let maxHeight = 0;
      for (const i of insertOrder) {
        tree.set(u32be(i), u32be(i * 3), slab);
        const shape = checkTree(tree.peek(), tree);
        maxHeight = Math.max(maxHeight, shape.height);
        if (shape.height !== tree.height) t.fail(`height ${tree.height} reported, ${shape.height} found`);
      }
      // 700 keys in nodes of 3 and 4 need at least five levels: splits happened at every one.
      t.true(maxHeight >= 5, `${insertName}: height ${maxHeight}`);
      const left = new Set(insertOrder);
      for (const i of deleteOrder) {
        t.true(tree.delete(u32be(i)));
        left.delete(i);
        const shape = checkTree(tree.peek(), tree);
        if (shape.entries !== left.size) t.fail(`${insertName}/${deleteName}: ${shape.entries} entries, expected ${left.size}`);
        if (i % 97 === 0) {
          const expected = [...left].sort((a, b) => a - b).map((k): [string, string] => [latin1(u32be(k)), latin1(u32be(k * 3))]);
          t.deepEqual(walk(tree.peek()), expected, `${insertName}/${deleteName} after deleting ${i}`);
        }
      }
      t.is(tree.size, 0);
      t.is(tree.height, 1, `${insertName}/${deleteName}: merges collapsed the tree to one leaf`);
      t.false(tree.delete(u32be(0)));
    }
  }
});

test('appending keys in order fills leaves completely instead of half', (t) => {
  const tree = new CowBTree({ leafSize: 64, branchSize: 64 });
  const slab = new Slab();
  const n = 10_000;
  for (let i = 0; i < n; i++) tree.set(u32be(i), u32be(i), slab);
  const shape = checkTree(tree.peek(), tree);
  t.is(shape.entries, n);
  t.is(shape.leaves, Math.ceil(n / 64));
  // Random order still leaves every leaf but the spine at least half full (checkTree), so at
  // most twice as many leaves.
  const random = new CowBTree({ leafSize: 64, branchSize: 64 });
  for (const i of new Rng(7).shuffle([...Array(n).keys()])) random.set(u32be(i), u32be(i), slab);
  const rshape = checkTree(random.peek(), random);
  t.true(rshape.leaves <= Math.ceil(n / 32) + rshape.height, `${rshape.leaves} leaves`);
});

test('deleteRange across many leaves, with bounds on, between and beyond keys', (t) => {
  const rng = seeded(t);
  const tree = new CowBTree({ leafSize: 4, branchSize: 4 });
  const slab = new Slab();
  const model: Model = new Map();
  for (let i = 0; i < 5000; i++) {
    tree.set(u32be(i * 2), u32be(i), slab);
    model.set(latin1(u32be(i * 2)), latin1(u32be(i)));
  }
  const ranges: Array<[number, number]> = [
    [10, 10], // empty
    [30, 20], // inverted
    [1, 2], // one key
    [2, 2000], // many leaves, on keys
    [1999, 4001], // between keys
    [9000, 20000], // runs past the last key
  ];
  for (let i = 0; i < 40; i++) {
    const a = rng.int(10_002);
    ranges.push([a, a + rng.int(rng.chance(0.5) ? 40 : 3000)]);
  }
  ranges.push([0, 0xffffffff]); // everything that is left
  for (const [a, b] of ranges) {
    let n = 0;
    for (const key of [...model.keys()]) {
      if (key >= latin1(u32be(a)) && key < latin1(u32be(b))) {
        model.delete(key);
        n++;
      }
    }
    t.is(tree.deleteRange(u32be(a), u32be(b)), n, `deleteRange [${a}, ${b})`);
    mustMatch(t, tree.peek(), tree, sortedEntries(model), `after deleteRange [${a}, ${b})`);
  }
  t.is(tree.size, 0);
  // The emptied tree still works.
  tree.set(u32be(5), u32be(5), slab);
  t.deepEqual(walk(tree.peek()), [[latin1(u32be(5)), latin1(u32be(5))]]);
});

test('many frozen roots taken at random points each keep the view of their moment', (t) => {
  const rng = seeded(t);
  for (const shape of [SHAPES[0]!, SHAPES[3]!]) {
    const tree = new CowBTree(shape);
    const slab = new Slab();
    const model: Model = new Map();
    const frozen: Array<{ root: BNode; expected: Array<[string, string]>; at: number }> = [];
    for (let step = 0; step < 3000; step++) {
      const r = rng.float();
      const k = u32be(rng.int(600));
      if (r < 0.55) {
        const v = rng.bytes(rng.between(1, 4));
        tree.set(k, v, slab);
        model.set(latin1(k), latin1(v));
      } else if (r < 0.9) {
        tree.delete(k);
        model.delete(latin1(k));
      } else {
        const end = u32be(rng.int(700));
        tree.deleteRange(k, end);
        for (const key of [...model.keys()]) if (key >= latin1(k) && key < latin1(end)) model.delete(key);
      }
      if (rng.chance(0.03)) frozen.push({ root: tree.freeze(), expected: sortedEntries(model), at: step });
      if (step === 1500) {
        for (const f of frozen) mustMatch(t, f.root, tree, f.expected, `root frozen at step ${f.at}, checked at 1500`);
      }
    }
    t.true(frozen.length > 30, `${frozen.length} frozen roots`);
    for (const f of frozen) {
      mustMatch(t, f.root, tree, f.expected, `root frozen at step ${f.at}`);
      t.deepEqual(walkBack(f.root), f.expected, `root frozen at step ${f.at}, backwards`);
    }
    mustMatch(t, tree.peek(), tree, sortedEntries(model), 'live tree');
  }
});

test('a frozen view is unchanged after 10,000 later writes', (t) => {
  const rng = seeded(t);
  const tree = new CowBTree({ leafSize: 8, branchSize: 8 });
  const slab = new Slab();
  for (let i = 0; i < 2000; i++) tree.set(u32be(i), bytes(`v${i}`), slab);
  const expected = walk(tree.peek());
  const root = tree.freeze();
  for (let i = 0; i < 10_000; i++) {
    const k = u32be(rng.int(2500));
    const r = rng.float();
    if (r < 0.5) tree.set(k, bytes(`w${i}`), slab);
    else if (r < 0.97) tree.delete(k);
    else tree.deleteRange(k, u32be(rng.int(2500)));
  }
  mustMatch(t, root, tree, expected, 'frozen root');
  const c = new Cursor(root);
  t.true(c.seekGE(u32be(1000)));
  t.is(latin1(c.value()), 'v1000');
});

test('copy-on-write copies a path once per epoch and shares every other node', (t) => {
  const tree = new CowBTree({ leafSize: 4, branchSize: 4 });
  const slab = new Slab();
  for (let i = 0; i < 500; i++) tree.set(u32be(i * 10), u32be(i), slab);
  const height = tree.height;
  t.true(height >= 4);
  const before = tree.nodesCopied;
  const frozen = tree.freeze();
  tree.set(u32be(5), bytes('a'), slab);
  t.is(tree.nodesCopied - before, height, 'first write after a freeze copies its root-to-leaf path');
  tree.set(u32be(6), bytes('b'), slab);
  tree.set(u32be(5), bytes('c'), slab);
  t.is(tree.nodesCopied - before, height, 'later writes to the same leaf copy nothing');
  const live = tree.freeze();
  // Every node of the new tree except the copied path (and nodes made by splits) is shared.
  const old = new Set<BNode>();
  const collect = (n: BNode, into: Set<BNode>): void => {
    into.add(n);
    if (n.children !== null) for (const c of n.children) collect(c, into);
  };
  collect(frozen, old);
  const now = new Set<BNode>();
  collect(live, now);
  const fresh = [...now].filter((n) => !old.has(n)).length;
  // Copied path plus what splits made (a split can climb every level).
  t.true(fresh <= 2 * height + 1, `${fresh} fresh nodes of ${now.size}`);
  t.is(tree.get(u32be(5)) && latin1(tree.get(u32be(5))!), 'c');
  t.is(lookup(frozen, u32be(5)), undefined, 'the frozen root does not see the later write');
  // Reads never copy.
  const copied = tree.nodesCopied;
  tree.freeze();
  for (let i = 0; i < 100; i++) tree.get(u32be(i));
  tree.delete(u32be(7)); // absent: nothing to change, nothing copied
  t.is(tree.nodesCopied, copied);
});

test('cursor seeks and steps agree with the model in both directions across node boundaries', (t) => {
  const rng = seeded(t);
  const tree = new CowBTree({ leafSize: 3, branchSize: 4 });
  const slab = new Slab();
  const keys: string[] = [];
  for (let i = 0; i < 1000; i++) {
    const k = u32be(i * 4 + 1);
    tree.set(k, u32be(i), slab);
    keys.push(latin1(k));
  }
  const root = tree.freeze();
  const c = new Cursor(root);
  // Index of the first model key >= probe (strict: > probe).
  const bound = (probe: string, strict: boolean): number => {
    let lo = 0;
    let hi = keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (keys[mid]! < probe || (strict && keys[mid] === probe)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const at = (i: number): string | undefined => keys[i];
  const here = (): string | undefined => (c.valid() ? latin1(c.key()) : undefined);
  for (let round = 0; round < 300; round++) {
    const p = rng.int(4010) - 3;
    const probe = latin1(u32be(Math.max(p, 0)));
    const mode = rng.int(3);
    let i: number;
    if (mode === 0) {
      c.seekGE(bytes(probe));
      i = bound(probe, false);
    } else if (mode === 1) {
      c.seekLE(bytes(probe));
      i = bound(probe, true) - 1;
    } else {
      c.seekLT(bytes(probe));
      i = bound(probe, false) - 1;
    }
    t.is(here(), at(i), `round ${round}: seek mode ${mode} to ${p}`);
    if (!c.valid()) continue;
    const forward = rng.chance(0.5);
    for (let s = 0; s < 12; s++) {
      const moved = forward ? c.next() : c.prev();
      i += forward ? 1 : -1;
      t.is(moved, at(i) !== undefined, `round ${round} step ${s}`);
      t.is(here(), at(i), `round ${round} step ${s}`);
      if (!moved) break;
    }
  }
  t.true(c.first());
  t.is(here(), keys[0]);
  t.false(c.prev());
  t.true(c.last());
  t.is(here(), keys[keys.length - 1]);
  t.false(c.next());
  t.false(c.valid());
  // An empty tree has no first or last entry, and seeks find nothing.
  const empty = new Cursor(new CowBTree().freeze());
  t.false(empty.first());
  t.false(empty.last());
  t.false(empty.seekGE(bytes('a')));
  t.false(empty.seekLE(bytes('a')));
});

test('stored keys and values are copies the caller cannot change', (t) => {
  const tree = new CowBTree({ leafSize: 4, branchSize: 4 });
  const slab = new Slab();
  const key = bytes('key-0');
  const value = bytes('value-0');
  const big = new Uint8Array(OWN_BUFFER_BYTES + 10).fill(7);
  for (let i = 0; i < 50; i++) {
    key[4] = 0x30 + (i % 10);
    key[3] = 0x30 + Math.floor(i / 10);
    value[6] = 0x30 + (i % 10);
    tree.set(key, i === 13 ? big : value, slab);
  }
  big.fill(9);
  key.fill(0);
  value.fill(0);
  t.is(latin1(tree.get(bytes('key37'))!), 'value-7');
  t.deepEqual([...new Set(tree.get(bytes('key13'))!)], [7]);
  t.is(tree.get(bytes('key13'))!.length, OWN_BUFFER_BYTES + 10);
  const entries = walk(tree.peek());
  t.is(entries.length, 50);
  t.is(entries[0]![0], 'key00');
  tree.set(new Uint8Array(0), new Uint8Array(0), slab);
  t.is(tree.get(new Uint8Array(0))!.length, 0);
  t.is(walk(tree.peek())[0]![0], '');
});

test('heads keep byte order for short keys, zero bytes and shared prefixes (property)', (t) => {
  const seed = testSeed();
  t.log(`seed ${seed} (replay with SEED=${seed})`);
  const keyArb = fc.uint8Array({ maxLength: 9 }).map((k) => (k.length > 0 && k[0]! < 128 ? k.map((b) => b & 0x81) : k));
  fc.assert(
    fc.property(fc.array(keyArb, { maxLength: 120 }), fc.array(keyArb, { maxLength: 20 }), (keys, probes) => {
      const tree = new CowBTree({ leafSize: 3, branchSize: 4 });
      const slab = new Slab();
      const model: Model = new Map();
      for (const k of keys) {
        tree.set(k, k, slab);
        model.set(latin1(k), latin1(k));
      }
      const expected = sortedEntries(model);
      const got = walk(tree.peek());
      if (JSON.stringify(got) !== JSON.stringify(expected)) return false;
      checkTree(tree.peek(), tree);
      for (const p of probes) {
        const v = tree.get(p);
        if ((v === undefined ? undefined : latin1(v)) !== model.get(latin1(p))) return false;
        const c = new Cursor(tree.peek());
        const want = expected.find(([k]) => k >= latin1(p));
        if (c.seekGE(p) ? latin1(c.key()) !== want?.[0] : want !== undefined) return false;
      }
      return true;
    }),
    { seed, numRuns: 300 },
  );
  t.pass();
});
