import test from 'ava';
import { CommandRegistry, isKvError, latchHash, Scheduler, type Command, type CommandContext } from '@flashkv/core';
import { bytes, Rng, testSeed } from '@flashkv/core/testing';

interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(v: T): void;
  reject(e: unknown): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Lets every queued promise callback run, so the scheduler reaches a quiet point. Not a sleep: no time passes. */
function settle(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

/** A command that records when it runs and finishes only when the test says so. */
class Gate implements Command<string> {
  readonly name = 'gate';
  readonly done = deferred<string>();
  started = false;
  finished = false;
  ctx: CommandContext | undefined;
  constructor(
    readonly id: number,
    readonly keys: readonly string[],
    private readonly onStart: (g: Gate) => void = () => {},
  ) {}
  latchKeys(): Uint8Array[] {
    return this.keys.map(bytes);
  }
  process(ctx: CommandContext): Promise<string> {
    this.started = true;
    this.ctx = ctx;
    this.onStart(this);
    return this.done.promise.finally(() => {
      this.finished = true;
    });
  }
}

function overlaps(a: Gate, b: Gate): boolean {
  return a.keys.some((k) => b.keys.includes(k));
}

test('commands on different keys run at the same time; on a common key, one after the other', async (t) => {
  const s = new Scheduler();
  const a = new Gate(1, ['a']);
  const b = new Gate(2, ['b']);
  const c = new Gate(3, ['a', 'c']);
  const ra = s.run(a);
  const rb = s.run(b);
  const rc = s.run(c);
  await settle();
  t.true(a.started && b.started, 'a and b overlap in time');
  t.false(c.started, 'c waits for a');
  t.is(s.pending, 3);
  t.is(s.running, 2);
  b.done.resolve('B');
  t.is(await rb, 'B');
  await settle();
  t.false(c.started);
  a.done.resolve('A');
  t.is(await ra, 'A');
  await settle();
  t.true(c.started);
  c.done.resolve('C');
  t.is(await rc, 'C');
  t.is(s.pending, 0);
  t.is(s.running, 0);
  t.deepEqual([a.ctx!.cid < b.ctx!.cid, b.ctx!.cid < c.ctx!.cid], [true, true]);
});

test('seeded random workload: overlapping commands never run together and run in arrival order; others are never held back', async (t) => {
  const seed = testSeed();
  t.log(`SEED=${seed}`);
  const rng = new Rng(seed);
  const universe = Array.from({ length: 16 }, (_, i) => `k${i}`);
  // The model below reasons about keys; the latches about 53-bit hashes. Make sure they agree.
  t.is(new Set(universe.map((k) => latchHash(bytes(k)))).size, universe.length);

  const s = new Scheduler({ latchSlots: 4 }); // few slots: unrelated keys share them
  const all: Gate[] = [];
  const running = new Set<Gate>();
  const log: string[] = [];
  const outcomes = new Map<Gate, Promise<{ ok: boolean; value: unknown }>>();
  const expected = new Map<Gate, { ok: boolean; value: unknown }>();
  const problems: string[] = [];

  const onStart = (g: Gate): void => {
    for (const r of running) if (overlaps(r, g)) problems.push(`${g.id} started while ${r.id} (overlapping) runs`);
    for (const e of all) {
      if (e.id < g.id && overlaps(e, g) && !e.finished) problems.push(`${g.id} started before earlier overlapping ${e.id} finished`);
    }
    running.add(g);
    log.push(`start ${g.id}`);
  };

  const submit = (): void => {
    const keys = Array.from({ length: rng.between(1, 3) }, () => rng.pick(universe));
    const g = new Gate(all.length + 1, keys, onStart);
    all.push(g);
    outcomes.set(
      g,
      s.run(g).then(
        (value) => ({ ok: true, value }),
        (e: unknown) => ({ ok: false, value: (e as Error).message }),
      ),
    );
  };

  const finishOne = (): void => {
    const list = [...running];
    const g = list[rng.int(list.length)]!;
    running.delete(g);
    log.push(`end ${g.id}`);
    if (rng.chance(0.15)) {
      g.done.reject(new Error(`boom ${g.id}`));
      expected.set(g, { ok: false, value: `boom ${g.id}` });
    } else {
      g.done.resolve(`v${g.id}`);
      expected.set(g, { ok: true, value: `v${g.id}` });
    }
  };

  let maxConcurrent = 0;
  const checkQuiet = (step: number): void => {
    maxConcurrent = Math.max(maxConcurrent, running.size);
    for (const w of all) {
      if (w.started) continue;
      // A waiting command must be waiting for an earlier, unfinished command on a common key.
      const blocker = all.find((e) => e.id < w.id && !e.finished && overlaps(e, w));
      if (blocker === undefined) problems.push(`step ${step}: ${w.id} waits although nothing earlier overlaps it`);
    }
  };

  const total = 400;
  for (let step = 0; all.length < total || running.size > 0; step++) {
    if (all.length < total && (running.size === 0 || rng.chance(0.55))) {
      for (let i = rng.between(1, 6); i > 0 && all.length < total; i--) submit();
    } else {
      finishOne();
    }
    await settle();
    checkQuiet(step);
    if (problems.length > 0) break;
  }
  t.deepEqual(problems, [], `SEED=${seed}`);
  t.is(s.pending, 0, `SEED=${seed}`);
  t.true(all.every((g) => g.finished), `SEED=${seed}`);
  t.true(maxConcurrent > 1, `SEED=${seed}: commands on different keys did overlap in time`);

  // Over the whole log: for overlapping i < j, i ended before j started.
  const at = new Map(log.map((e, i) => [e, i]));
  for (const i of all) {
    for (const j of all) {
      if (i.id < j.id && overlaps(i, j)) {
        if (!(at.get(`end ${i.id}`)! < at.get(`start ${j.id}`)!)) t.fail(`SEED=${seed}: ${j.id} started before ${i.id} ended`);
      }
    }
  }
  for (const [g, p] of outcomes) t.deepEqual(await p, expected.get(g), `SEED=${seed} command ${g.id}`);
});

test('a full queue gives SERVER_BUSY at once and runs nothing; room frees up as commands finish', async (t) => {
  const s = new Scheduler({ maxPending: 3 });
  const a = new Gate(1, ['a']);
  const b = new Gate(2, ['a']);
  const c = new Gate(3, ['c']);
  const runs = [s.run(a), s.run(b), s.run(c)];
  await settle();
  let latchKeysCalled = false;
  let processCalled = false;
  const d: Command<string> = {
    name: 'overflow',
    latchKeys() {
      latchKeysCalled = true;
      return [bytes('d')];
    },
    async process() {
      processCalled = true;
      return 'd';
    },
  };
  const e = await t.throwsAsync(s.run(d));
  t.true(isKvError(e, 'SERVER_BUSY'), String(e));
  t.like((e as unknown as { details: object }).details, { pending: 3, maxPending: 3, command: 'overflow' });
  await settle();
  t.false(processCalled);
  t.false(latchKeysCalled);
  t.is(s.pending, 3);

  c.done.resolve('c');
  await runs[2];
  const again = s.run(d);
  t.is(await again, 'd');
  t.true(processCalled);
  a.done.resolve('a');
  await settle();
  b.done.resolve('b');
  t.deepEqual(await Promise.all(runs), ['a', 'b', 'c']);
  t.is(s.pending, 0);
});

test('latches are released when a command throws, synchronously or by rejecting, and when its context cannot be built', async (t) => {
  let failContext = false;
  let disposed = 0;
  const s = new Scheduler<{ cid: number; tag: string }>({
    context: (run) => {
      if (failContext) throw new Error('no snapshot');
      return { cid: run.cid, tag: `ctx-${run.name}` };
    },
    disposeContext: () => {
      disposed++;
    },
  });
  const syncThrow: Command<never, { cid: number; tag: string }> = {
    name: 'sync-throw',
    latchKeys: () => [bytes('k')],
    process: () => {
      throw new Error('sync boom');
    },
  };
  const asyncThrow: Command<never, { cid: number; tag: string }> = {
    name: 'async-throw',
    latchKeys: () => [bytes('k')],
    process: async () => {
      throw new Error('async boom');
    },
  };
  const seen: string[] = [];
  const after: Command<string, { cid: number; tag: string }> = {
    name: 'after',
    latchKeys: () => [bytes('k')],
    process: async (ctx) => {
      seen.push(ctx.tag);
      return 'ran';
    },
  };
  const r1 = s.run(syncThrow);
  const r2 = s.run(asyncThrow);
  const r3 = s.run(after);
  await t.throwsAsync(r1, { message: 'sync boom' });
  await t.throwsAsync(r2, { message: 'async boom' });
  t.is(await r3, 'ran');
  t.deepEqual(seen, ['ctx-after']);
  t.is(disposed, 3);

  failContext = true;
  await t.throwsAsync(s.run(after), { message: 'no snapshot' });
  t.is(disposed, 3, 'no context, nothing to dispose');
  failContext = false;
  t.is(await s.run(after), 'ran');
  t.is(s.pending, 0);
});

test('malformed commands are refused with a TypeError and leave nothing queued', async (t) => {
  const s = new Scheduler({ maxPending: 1 });
  await t.throwsAsync(s.run({ name: 'bad', latchKeys: () => ['k' as never], process: async () => 1 }), { instanceOf: TypeError });
  await t.throwsAsync(
    s.run({
      name: 'bad',
      latchKeys: () => {
        throw new TypeError('cannot list keys');
      },
      process: async () => 1,
    }),
    { message: 'cannot list keys' },
  );
  await t.throwsAsync(s.run(null as never), { instanceOf: TypeError });
  t.is(s.pending, 0);
  // The one pending slot is still free.
  t.is(await s.run({ name: 'ok', latchKeys: () => [], process: async (ctx) => ctx.cid }), 1);
});

test('command registry: plugins add commands by name; duplicates and unknown names are clear errors', (t) => {
  const reg = new CommandRegistry();
  const make = (args: unknown): Command<unknown> => ({
    name: 'echo',
    latchKeys: () => [],
    process: async () => args,
  });
  t.deepEqual(reg.register('echo', make, { owner: '@acme/echo' }), { name: 'echo', owner: '@acme/echo' });
  const dup = t.throws(() => reg.register('echo', make, { owner: '@other/echo' }));
  t.true(isKvError(dup, 'INVALID_ARGUMENT'));
  t.regex(dup!.message, /already registered by @acme\/echo; @other\/echo/);
  t.true(reg.has('echo'));
  t.deepEqual(reg.names(), ['echo']);
  const cmd = reg.create('echo', 42);
  t.is(cmd.name, 'echo');
  const unknown = t.throws(() => reg.create('nope', {}));
  t.true(isKvError(unknown, 'INVALID_ARGUMENT'));
  reg.register('liar', make);
  t.throws(() => reg.create('liar', 1), { instanceOf: TypeError, message: /returned a command named echo/ });
  t.throws(() => reg.register('', make), { instanceOf: TypeError });
  t.throws(() => reg.register('x', 'f' as never), { instanceOf: TypeError });
});

test('a registered command runs through the scheduler', async (t) => {
  const reg = new CommandRegistry();
  reg.register('double', (args) => {
    const n = args as number;
    return { name: 'double', latchKeys: () => [bytes(`n${n}`)], process: async () => n * 2 };
  });
  const s = new Scheduler();
  t.is(await s.run(reg.create<number>('double', 21)), 42);
});
