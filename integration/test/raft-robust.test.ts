// Robustness of the in-process raft cluster under a kernel (issue 8 leftovers): the kernel's
// `applied` events follow whichever store applies first (a change feed keeps seeing a region whose
// replica left store 1, and everything after store 1 stops, with no row twice and none missing),
// and a store stopping under a transactional load (its requests in flight) is routed around.
import test, { type ExecutionContext } from 'ava';
import { Subject } from 'rxjs';
import { CONSENSUS, ENGINE, EVENTS, Kernel, PLACEMENT, codec, definePlugin, localPlacement, storage, txnClient, type AppliedEvent } from '@flashkv/core';
import { Rng, latin1, testSeed } from '@flashkv/core/testing';
import { MemoryEngine } from '@flashkv/engine-memory';
import { cdc, CDC, type CdcEvent } from '@flashkv/cdc';
import { RaftCluster, intervalTickSource } from '@flashkv/raft';

const te = new TextEncoder();
const KEYS = Array.from({ length: 24 }, (_, i) => `k${String(i).padStart(2, '0')}`);

interface Node {
  readonly kernel: Kernel;
  readonly cluster: () => RaftCluster;
  readonly ticks: Subject<void>;
  readonly stop: () => Promise<void>;
}

/** `flashkv serve --cluster 3`'s shape: local placement on store 1's engine, three raft stores, Storage, TxnClient, CDC. */
async function startNode(seed: number): Promise<Node> {
  const engines = [new MemoryEngine(), new MemoryEngine(), new MemoryEngine()];
  const ticks = new Subject<void>();
  let cluster: RaftCluster | undefined;
  const kernel = await Kernel.start({
    plugins: [
      definePlugin({ name: 'mem', version: '1.0.0', provides: [ENGINE], register: (ctx) => ctx.provide(ENGINE, engines[0]!) }),
      localPlacement(),
      definePlugin({
        name: 'raft-under-test',
        version: '1.0.0',
        requires: [ENGINE, PLACEMENT, EVENTS],
        provides: [CONSENSUS],
        async register(ctx) {
          const placement = ctx.resolve(PLACEMENT);
          cluster = await RaftCluster.start({
            engines,
            allocId: () => placement.allocId(),
            directory: placement,
            events: ctx.resolve(EVENTS),
            tickSource: intervalTickSource(2),
            seed,
            raft: { electionTick: 10, heartbeatTick: 2 },
          });
          ctx.provide(CONSENSUS, cluster.consensus);
        },
        async stop() {
          await cluster?.stop();
        },
      }),
      storage(),
      txnClient(),
      cdc({ ticker: ticks, schedule: (run) => run() }),
    ],
  });
  const alive = setInterval(() => undefined, 1000);
  return {
    kernel,
    cluster: () => cluster!,
    ticks,
    stop: async () => {
      clearInterval(alive);
      await kernel.stop();
    },
  };
}

function regionOf(n: Node, key: string) {
  return n.kernel.resolve(PLACEMENT).regionForKey(codec.encodeBytes(te.encode(key)));
}

interface Acked {
  readonly commitTs: bigint;
  readonly puts: Map<string, string>;
}

/** One transaction of 1-3 puts with values unique to it; resolves with what was acknowledged. */
async function randomTxn(n: Node, rng: Rng, tag: string): Promise<Acked> {
  const txn = await n.kernel.client().begin();
  const puts = new Map<string, string>();
  const count = 1 + rng.int(3);
  for (let i = 0; i < count; i++) puts.set(KEYS[rng.int(KEYS.length)]!, `${tag}-${i}`);
  for (const [k, v] of puts) await txn.put(te.encode(k), te.encode(v));
  return { commitTs: await txn.commit(), puts };
}

/** Each region's `applied` stream must be in strictly increasing log order (no index twice). */
function watchOrder(n: Node): { readonly bad: string[]; readonly perRegion: Map<number, number> } {
  const last = new Map<number, bigint>();
  const perRegion = new Map<number, number>();
  const bad: string[] = [];
  n.kernel.events.applied$.subscribe((e: AppliedEvent) => {
    const prev = last.get(e.regionId) ?? -1n;
    if (e.index <= prev) bad.push(`region ${e.regionId}: index ${e.index} after ${prev}`);
    last.set(e.regionId, e.index);
    perRegion.set(e.regionId, (perRegion.get(e.regionId) ?? 0) + 1);
  });
  return { bad, perRegion };
}

async function untilResolved(t: ExecutionContext, n: Node, events: readonly CdcEvent[], ts: bigint, seed: number): Promise<void> {
  const service = n.kernel.resolve(CDC);
  const deadline = Date.now() + 20_000;
  while (!events.some((e) => e.type === 'globalResolvedTs' && e.ts >= ts)) {
    if (Date.now() > deadline) {
      t.fail(`the feed's resolved ts did not reach ${ts} (seed ${seed})`);
      return;
    }
    await service.tick();
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('a change feed sees every commit exactly once across a replica moving off store 1 and store 1 stopping; writes do not wait for store 1', async (t) => {
  const seed = testSeed();
  t.log(`seed ${seed} (replay with SEED=${seed})`);
  const rng = new Rng(seed);
  const n = await startNode(seed);
  t.teardown(() => n.stop());
  const order = watchOrder(n);
  const r0 = regionOf(n, 'k00');
  await n.kernel.resolve(CONSENSUS).admin({ regionId: r0.id, epoch: r0.epoch }, { type: 'split', splitKey: codec.encodeBytes(te.encode('k12')) });
  const left = regionOf(n, 'k00').id;
  const right = regionOf(n, 'k12').id;
  t.not(left, right);

  const events: CdcEvent[] = [];
  const sub = n.kernel.resolve(CDC).changefeed({ startTs: 0n }).subscribe((e) => events.push(e));
  t.teardown(() => sub.unsubscribe());

  const acked: Acked[] = [];
  const round = async (phase: string, count: number) => {
    for (let i = 0; i < count; i++) acked.push(await randomTxn(n, rng, `${phase}${i}`));
    n.ticks.next();
  };
  await round('a', 10);

  // The left region's replica moves from store 1 to a new store 4: store 1 applies none of its
  // later writes, and used to be the only store reporting events.
  const cluster = n.cluster();
  await cluster.addStore(new MemoryEngine());
  await cluster.moveReplica(left, 1, 4);
  t.is(cluster.stores[0]!.peers.get(left), undefined, 'store 1 no longer holds the left region');
  const leftBefore = order.perRegion.get(left) ?? 0;
  await round('b', 10);
  t.true((order.perRegion.get(left) ?? 0) > leftBefore, 'the left region still reports applies after leaving store 1');

  // Store 1 stops: the right region keeps two of its three replicas.
  cluster.stopStore(1);
  const started = Date.now();
  await round('c', 10);
  t.log(`10 txns after store 1 stopped: ${Date.now() - started} ms`);

  await untilResolved(t, n, events, acked[acked.length - 1]!.commitTs, seed);
  t.deepEqual(order.bad, [], `applied streams in log order, no index twice (seed ${seed})`);

  // Exactly the acknowledged commits, each key of each once, and none at or below a resolved ts
  // already delivered for its region.
  const expected = new Map<string, string>();
  for (const a of acked) for (const [k, v] of a.puts) expected.set(`${k}@${a.commitTs}`, v);
  const seen = new Map<string, number>();
  const resolved = new Map<number, bigint>();
  const prewrites = new Map<string, number>();
  for (const e of events) {
    if (e.type === 'resolvedTs') {
      t.true(e.ts >= (resolved.get(e.regionId) ?? 0n), `resolved ts of region ${e.regionId} went back`);
      resolved.set(e.regionId, e.ts);
    } else if (e.type === 'commit' || e.type === 'committed') {
      const r = resolved.get(e.regionId);
      if (r !== undefined) t.true(e.commitTs > r, `region ${e.regionId}: ${e.type} at ${e.commitTs} after resolved ts ${r} (seed ${seed})`);
      const id = `${latin1(e.key)}@${e.commitTs}`;
      seen.set(id, (seen.get(id) ?? 0) + 1);
      t.is(e.value === undefined ? undefined : latin1(e.value), expected.get(id), `value of ${id}`);
    } else if (e.type === 'prewrite') {
      const id = `${latin1(e.key)}@${e.startTs}`;
      prewrites.set(id, (prewrites.get(id) ?? 0) + 1);
    }
  }
  const missing = [...expected.keys()].filter((id) => !seen.has(id));
  const twice = [...seen].filter(([, c]) => c > 1).map(([id]) => id);
  const unknown = [...seen.keys()].filter((id) => !expected.has(id));
  t.deepEqual(missing, [], `every acknowledged commit reached the feed (seed ${seed})`);
  t.deepEqual(twice, [], `no commit row twice (seed ${seed})`);
  t.deepEqual(unknown, [], `no row that was not committed (seed ${seed})`);
  t.deepEqual([...prewrites].filter(([, c]) => c > 1).map(([id]) => id), [], `no prewrite row twice (seed ${seed})`);
  t.true((order.perRegion.get(right) ?? 0) > 0);
});

test('the store leading a region stops under a concurrent transactional load: writes and reads through TxnClient and Storage keep working, every acknowledged write is there', async (t) => {
  const seed = testSeed();
  t.log(`seed ${seed} (replay with SEED=${seed})`);
  const rng = new Rng(seed);
  const n = await startNode(seed);
  t.teardown(() => n.stop());
  const r0 = regionOf(n, 'k00');
  await n.kernel.resolve(CONSENSUS).admin({ regionId: r0.id, epoch: r0.epoch }, { type: 'split', splitKey: codec.encodeBytes(te.encode('k12')) });
  const cluster = n.cluster();
  const victimRegion = regionOf(n, KEYS[rng.int(KEYS.length)]!).id;

  // Four writers, each writing its own keys (so no conflicts), one txn of two keys at a time.
  const acknowledged = new Map<string, string>();
  // Txns that failed. A proposal in flight on the stopping store has an unknown outcome (it may
  // still commit through the next leader); the client retries it, and a retried prewrite that
  // finds its own commit (a 1PC that did apply) reports the txn committed, so none may fail.
  const failures: { keys: string[]; value: string; error: string }[] = [];
  let stopped = false;
  let afterStop = 0;
  let leader: ReturnType<RaftCluster['leaderStore']>;
  let ackedAtStop = 0;
  const writer = async (w: number) => {
    for (let i = 0; i < 40; i++) {
      const txn = await n.kernel.client().begin();
      const keys = [`k${String(rng.int(KEYS.length)).padStart(2, '0')}-w${w}-${i}`, `k${String(rng.int(KEYS.length)).padStart(2, '0')}-w${w}-${i}b`];
      for (const k of keys) await txn.put(te.encode(k), te.encode(`v${w}-${i}`));
      try {
        await txn.commit();
        for (const k of keys) acknowledged.set(k, `v${w}-${i}`);
        if (stopped) afterStop++;
        else if (acknowledged.size >= 24) {
          // Stop the leader's store while the other writers have requests in flight.
          leader = cluster.leaderStore(victimRegion);
          if (leader) {
            cluster.stopStore(leader.storeId);
            stopped = true;
            ackedAtStop = acknowledged.size;
          }
        }
      } catch (e) {
        failures.push({ keys, value: `v${w}-${i}`, error: String(e) });
      }
    }
  };
  await Promise.all([0, 1, 2, 3].map((w) => writer(w)));
  t.true(stopped, 'the region had a leader to stop');
  t.log(`stopped store ${leader!.storeId} (leader of region ${victimRegion}) after ${ackedAtStop} acknowledged keys; ${afterStop} txns after`);
  if (failures.length > 0) t.log(`txns failed (in flight when the store stopped): ${failures.map((f) => f.error).join('; ')}`);
  t.deepEqual(failures.map((f) => f.error), [], `no txn failed, in flight at the stop or not (seed ${seed})`);
  t.true(afterStop > 0, 'txns committed after the stop');
  t.not(cluster.leaderStore(victimRegion)?.storeId, leader!.storeId);

  // Reads: a scan through a TxnClient transaction (which resolves the locks a failed txn may have
  // left): every acknowledged write in key order, otherwise only whole failed txns. Then each
  // acknowledged key by a point get through Storage.
  const reader = await n.kernel.client().begin();
  const scanned = new Map((await reader.scan()).map((kv) => [latin1(kv.key), latin1(kv.value)]));
  const keys = [...scanned.keys()];
  t.deepEqual(keys, [...keys].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)), 'scan in key order');
  for (const [k, v] of acknowledged) t.is(scanned.get(k), v, `scan: ${k} (seed ${seed})`);
  const failedKeys = new Map(failures.flatMap((f) => f.keys.map((k) => [k, f] as const)));
  for (const [k, v] of scanned) {
    if (acknowledged.has(k)) continue;
    const f = failedKeys.get(k);
    t.truthy(f, `scan: ${k} was never written (seed ${seed})`);
    if (f) {
      t.is(v, f.value);
      t.true(f.keys.every((x) => scanned.get(x) === f.value), `a failed txn is all or nothing: ${f.keys.join(',')}`);
    }
  }
  const ts = await n.kernel.resolve(PLACEMENT).getTs();
  for (const [k, v] of acknowledged) {
    const got = await n.kernel.storage.get(te.encode(k), ts);
    t.is(got === undefined ? undefined : latin1(got), v, `${k} (seed ${seed})`);
  }
  // A new transaction still commits on the region whose leader's store stopped.
  const txn = await n.kernel.client().begin();
  const key = KEYS.find((k) => regionOf(n, k).id === victimRegion)!;
  await txn.put(te.encode(key), te.encode('after'));
  await txn.commit();
  t.is(latin1((await n.kernel.storage.get(te.encode(key), await n.kernel.resolve(PLACEMENT).getTs()))!), 'after');
});
