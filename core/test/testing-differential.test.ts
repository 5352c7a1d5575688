import test from 'ava';
import { COLUMN_FAMILIES, WriteBatch, type BatchOp, type StorageEngine } from '../src/engine/index.js';
import {
  EngineMismatchError,
  ReferenceEngine,
  Rng,
  bytes,
  describeStep,
  generateSteps,
  runDifferential,
  runEngineConformance,
  runEngineDifferential,
  testSeed,
  wrapEngine,
  type DiffStep,
} from '../src/testing/index.js';

/**
 * A persistent test double: a ReferenceEngine whose accepted batches go to a log that a
 * reopen replays, like a WAL. It lets the suite's reopen tests and the differential run's
 * reopen steps be exercised here, before any disk engine exists. `lossy` replays puts only,
 * the bug of an engine that forgets its tombstones across a restart.
 */
interface Store {
  readonly log: BatchOp[][];
  readonly lossy: boolean;
}

const stores = new WeakMap<StorageEngine, Store>();

function copyOp(op: BatchOp): BatchOp {
  if (op.op === 'put') return { ...op, key: op.key.slice(), value: op.value.slice() };
  if (op.op === 'delete') return { ...op, key: op.key.slice() };
  return { ...op, start: op.start.slice(), end: op.end.slice() };
}

async function openLogged(store: Store): Promise<StorageEngine> {
  const inner = new ReferenceEngine({ name: 'logged' });
  for (const ops of store.log) {
    const replay = new WriteBatch();
    for (const op of store.lossy ? ops.filter((o) => o.op === 'put') : ops) {
      if (op.op === 'put') replay.put(op.cf, op.key, op.value);
      else if (op.op === 'delete') replay.delete(op.cf, op.key);
      else replay.deleteRange(op.cf, op.start, op.end);
    }
    await inner.write(replay);
  }
  const engine = wrapEngine(inner, { capabilities: { persistent: true } });
  const write = engine.write.bind(engine);
  // Logged only once accepted: a rejected batch wrote nothing and must replay as nothing.
  engine.write = async (batch, options) => {
    await write(batch, options);
    store.log.push(batch.ops.map(copyOp));
  };
  stores.set(engine, store);
  return engine;
}

async function reopenLogged(engine: StorageEngine): Promise<StorageEngine> {
  const store = stores.get(engine);
  if (store === undefined) throw new TypeError('not a logged engine');
  await engine.close();
  return openLogged(store);
}

// The suite's persistence tests, run against the double, so they are known to pass on a
// correct persistent engine before the LSM engine relies on them.
runEngineConformance({ name: 'logged reference', factory: () => openLogged({ log: [], lossy: false }), reopen: reopenLogged });

// The registered differential test on a correct engine: passes, with and without reopen steps.
runEngineDifferential({ name: 'wrapped reference', factory: () => wrapEngine(new ReferenceEngine()), ops: 400 });
runEngineDifferential({ name: 'logged reference', factory: () => openLogged({ log: [], lossy: false }), reopen: reopenLogged, ops: 400 });

test('differential run with reopen steps catches deletes lost across a reopen', async (t) => {
  const seed = testSeed();
  t.log(`seed ${seed}`);
  const steps = generateSteps(new Rng(seed), 600, { reopen: true });
  const engine = await openLogged({ log: [], lossy: true });
  const error = await t.throwsAsync(runDifferential({ engine, steps, seed, reopen: reopenLogged }), { instanceOf: EngineMismatchError });
  t.true(error!.message.includes(`seed ${seed}`), error?.message);
  t.true(error!.step! < steps.length, 'caught at a step, not only by the final comparison');
  t.true(steps.slice(0, error!.step! + 1).some((s) => s.kind === 'reopen'), 'found only after a reopen');
  await error!.engine!.close();
});

test('differential run reports an engine that throws, with seed and step', async (t) => {
  const seed = testSeed();
  const steps = generateSteps(new Rng(seed), 300);
  const inner = new ReferenceEngine();
  let writes = 0;
  const engine = wrapEngine(inner, {
    write(batch) {
      if (++writes === 20) throw new RangeError('disk full');
      return batch;
    },
  });
  const error = await t.throwsAsync(runDifferential({ engine, steps, seed }), { instanceOf: EngineMismatchError });
  t.regex(error!.message, /engine threw RangeError: disk full/);
  t.true(error!.message.includes(`seed ${seed}`));
  t.is(steps.slice(0, error!.step! + 1).filter((s) => s.kind === 'write').length, 20, 'the step is the 20th write');
  t.true(error!.cause instanceof RangeError);
  await engine.close();
});

test('a reopen step without a reopen function is refused', async (t) => {
  const engine = new ReferenceEngine();
  const error = await t.throwsAsync(runDifferential({ engine, steps: [{ kind: 'reopen' }], seed: 1 }), { instanceOf: EngineMismatchError });
  t.regex(error!.message, /step 0 of 1: reopen\n.*needs the reopen option/);
  await engine.close();
});

function checkWellFormed(steps: readonly DiffStep[]): string | undefined {
  const live = new Set<number>();
  let taken = 0;
  for (const [i, s] of steps.entries()) {
    if (s.kind === 'snapshot') {
      if (s.id !== taken++) return `step ${i}: snapshot ids count up`;
      live.add(s.id);
    } else if (s.kind === 'release') {
      if (s.id >= taken) return `step ${i}: release of a snapshot never taken`;
      live.delete(s.id);
    } else if (s.kind === 'reopen') {
      live.clear();
    } else if ((s.kind === 'get' || s.kind === 'scan') && s.reader !== 'engine' && !live.has(s.reader)) {
      return `step ${i}: reads snapshot #${s.reader}, not held`;
    } else if (s.kind === 'scan' && !['first', 'last', 'seek', 'seekForPrev'].includes(s.moves[0]!.move)) {
      return `step ${i}: a scan starts unpositioned`;
    }
  }
  return undefined;
}

test('generateSteps is deterministic, well formed and honours its options', (t) => {
  const seed = testSeed();
  t.log(`seed ${seed}`);
  const a = generateSteps(new Rng(seed), 500).map(describeStep);
  t.deepEqual(generateSteps(new Rng(seed), 500).map(describeStep), a, 'same seed, same steps');
  t.notDeepEqual(generateSteps(new Rng(seed + 1), 500).map(describeStep), a);
  for (let s = seed; s < seed + 20; s++) {
    const steps = generateSteps(new Rng(s), 500, { reopen: true });
    t.is(steps.length, 500);
    t.is(checkWellFormed(steps), undefined);
    const kinds = new Set(steps.map((x) => x.kind));
    for (const kind of ['write', 'get', 'scan', 'snapshot', 'release', 'check', 'reopen']) t.true(kinds.has(kind as DiffStep['kind']), `${kind} in seed ${s}`);
  }
  const plain = generateSteps(new Rng(seed), 2000, { deleteRange: false, maxKeyLength: 2, maxValueLength: 10, keyAlphabet: [0x41, 0x42] });
  const ops = plain.flatMap((s) => (s.kind === 'write' ? s.ops : []));
  t.false(ops.some((op) => op.op === 'deleteRange'), 'no deleteRange when disabled');
  t.false(plain.some((s) => s.kind === 'reopen'), 'no reopen unless asked');
  t.true(ops.every((op) => op.op !== 'put' || op.value.length <= 10));
  const keys = ops.map((op) => (op.op === 'deleteRange' ? op.start : op.key));
  t.true(keys.every((k) => k.length <= 2 && k.every((c) => c === 0x41 || c === 0x42)));
  t.true(new Set(ops.map((op) => op.cf)).size === COLUMN_FAMILIES.length, 'every column family gets traffic');
});

test('describeStep names each step precisely', (t) => {
  t.is(
    describeStep({
      kind: 'write',
      sync: true,
      ops: [
        { op: 'put', cf: 'default', key: bytes('a\x00'), value: bytes('0123456789') },
        { op: 'delete', cf: 'lock', key: bytes('') },
        { op: 'deleteRange', cf: 'write', start: bytes('a'), end: bytes('\xff') },
      ],
    }),
    'write (sync) {put default "a\\x00"=<10B 3031323334353637..>; delete lock ""; deleteRange write ["a", "\\xff")}',
  );
  t.is(
    describeStep({ kind: 'scan', reader: 2, cf: 'raft', options: { upper: bytes('b') }, moves: [{ move: 'last' }, { move: 'seekForPrev', key: bytes('a') }] }),
    'iterate raft [-inf, "b") on snapshot #2: last, seekForPrev "a"',
  );
  t.is(describeStep({ kind: 'get', reader: 'engine', cf: 'default', key: bytes('"') }), 'get default "\\x22" on engine');
});
