import test from 'ava';
import { WriteBatch } from '../src/engine/index.js';
import {
  EngineMismatchError,
  ReferenceEngine,
  Rng,
  bytes,
  compareEngines,
  generateSteps,
  latin1,
  mustGet,
  runDifferential,
  runEngineConformance,
  testSeed,
  wrapEngine,
  type EngineHooks,
} from '../src/testing/index.js';

// The oracle passes the suite it judges others by, with and without deleteRange...
runEngineConformance({ name: 'reference', factory: () => new ReferenceEngine() });
runEngineConformance({ name: 'reference without deleteRange', factory: () => new ReferenceEngine({ deleteRange: false }) });
// ...and so does a pass-through wrapper over it (STYLE.md habit 3).
runEngineConformance({ name: 'wrapped reference', factory: () => wrapEngine(new ReferenceEngine()) });

// Three classic engine bugs, injected through wrapEngine. The differential run must catch each,
// naming the seed so the failure replays.
const bugs: Record<string, EngineHooks> = {
  'deleteRange that ignores its end': {
    write(batch) {
      const out = new WriteBatch();
      for (const op of batch.ops) {
        if (op.op === 'put') out.put(op.cf, op.key, op.value);
        else if (op.op === 'delete') out.delete(op.cf, op.key);
        else out.deleteRange(op.cf, op.start, new Uint8Array([0xff, 0xff, 0xff, 0xff]));
      }
      return out;
    },
  },
  'batch applied in reverse, so earlier ops on a key win': {
    write(batch) {
      const out = new WriteBatch();
      for (const op of [...batch.ops].reverse()) {
        if (op.op === 'put') out.put(op.cf, op.key, op.value);
        else if (op.op === 'delete') out.delete(op.cf, op.key);
        else out.deleteRange(op.cf, op.start, op.end);
      }
      return out;
    },
  },
  'snapshot that reads the live engine': {
    snapshot(inner, engine) {
      inner.release();
      return { get: (cf, key) => engine.get(cf, key), iterator: (cf, options) => engine.iterator(cf, options), release() {} };
    },
  },
};

for (const [bug, hooks] of Object.entries(bugs)) {
  test(`differential run catches a ${bug}`, async (t) => {
    const seed = testSeed();
    t.log(`seed ${seed}`);
    const steps = generateSteps(new Rng(seed), 600);
    const engine = wrapEngine(new ReferenceEngine(), hooks);
    const error = await t.throwsAsync(runDifferential({ engine, steps, seed }), { instanceOf: EngineMismatchError });
    t.is(error?.seed, seed);
    t.true(error!.message.includes(`seed ${seed}`), error?.message);
    t.true(error!.message.includes(`step ${error!.step} of ${steps.length}`), error?.message);
    t.true(error!.step! < steps.length, 'caught at a step, not only by the final comparison');
    t.true(error!.message.includes(error!.op!), 'the message names the step');
    await engine.close();
  });
}

test('ReferenceEngine keeps entries sorted and returns copies', async (t) => {
  const engine = new ReferenceEngine();
  await engine.write(new WriteBatch().put('default', bytes('b'), bytes('2')).put('default', bytes('a'), bytes('1')));
  t.deepEqual(
    engine.entries('default').map(([k, v]) => [latin1(k), latin1(v)]),
    [
      ['a', '1'],
      ['b', '2'],
    ],
  );
  engine.get('default', bytes('a'))![0] = 0x7a;
  const it = engine.iterator('default');
  it.first();
  it.key()[0] = 0x7a;
  it.close();
  t.is(mustGet(engine, 'default', 'a'), '1', 'mutating what a read returned does not reach the oracle');
  t.deepEqual(
    engine.entries('default').map(([k]) => latin1(k)),
    ['a', 'b'],
  );
  await engine.close();
});

test('ReferenceEngine snapshots refuse reads after release; its iterators refuse stepping off an entry', async (t) => {
  const engine = new ReferenceEngine();
  await engine.write(new WriteBatch().put('lock', bytes('k'), bytes('v')));
  const snap = engine.snapshot();
  snap.release();
  t.throws(() => snap.get('lock', bytes('k')), { instanceOf: TypeError });
  t.throws(() => snap.iterator('lock'), { instanceOf: TypeError });
  const it = engine.iterator('lock');
  t.throws(() => it.next(), { instanceOf: TypeError }, 'next before positioning');
  t.true(it.last());
  t.false(it.next());
  t.throws(() => it.prev(), { instanceOf: TypeError }, 'prev after falling off the end');
  it.close();
  await engine.close();
});

test('compareEngines accepts equal engines and names the first difference', async (t) => {
  const a = new ReferenceEngine();
  const b = new ReferenceEngine();
  const batch = new WriteBatch().put('default', bytes('k1'), bytes('v1')).put('raft', bytes('r'), bytes('x'));
  await a.write(batch);
  await b.write(batch);
  t.notThrows(() => compareEngines(a, b));
  await b.write(new WriteBatch().put('raft', bytes('r'), bytes('y')));
  const changed = t.throws(() => compareEngines(a, b, { label: 'case' }), { instanceOf: EngineMismatchError });
  t.regex(changed!.message, /^case: raft walked forward, entry 0/);
  t.notThrows(() => compareEngines(a, b, { cfs: ['default', 'lock', 'write'] }), 'restricted to the equal families');
  await b.write(new WriteBatch().put('raft', bytes('r'), bytes('x')).put('write', bytes('\x00'), bytes('')));
  const extra = t.throws(() => compareEngines(a, b), { instanceOf: EngineMismatchError });
  t.regex(extra!.message, /write walked forward, entry 0: engine has end, reference has "\\x00"=<0B >/);
  await a.close();
  await b.close();
});
