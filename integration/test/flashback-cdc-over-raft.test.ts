// Flashback and CDC over raft (issue 8 item 7): the orchestrator, the store-level commands and a
// change feed on a kernel whose CONSENSUS is three in-process raft stores, checked against
// snapshot reads at the version, with leadership moving while a flashback runs.
import test, { type ExecutionContext } from 'ava';
import { CONSENSUS, FLASHBACK, KvError, PLACEMENT, codec, type Flashback } from '@flashkv/core';
import { Rng, latin1, testSeed } from '@flashkv/core/testing';
import { flashback } from '@flashkv/flashback';
import { CDC, type CdcEvent, type CommitEvent } from '@flashkv/cdc';
import { cdcTickSleep, readAt, startRaftKernel, type RaftKernel } from './raft-kernel.js';

const te = new TextEncoder();
const KEYS = Array.from({ length: 24 }, (_, i) => `k${String(i).padStart(2, '0')}`);

interface Node extends RaftKernel {
  readonly fb: Flashback;
}

/** A kernel over three raft stores on engine-memory (local placement) with the flashback orchestrator. */
async function startNode(seed: number): Promise<Node> {
  // The orchestrator sleeps while it waits for min resolved ts: each sleep is one CDC tick.
  const n = await startRaftKernel({ seed, plugins: ({ ticks }) => [flashback({ sleep: cdcTickSleep(ticks) })] });
  return { ...n, fb: n.kernel.resolve(FLASHBACK) };
}

async function split(n: Node, at: string): Promise<void> {
  const r = n.kernel.resolve(PLACEMENT).regionForKey(codec.encodeBytes(te.encode(at)));
  await n.kernel.resolve(CONSENSUS).admin({ regionId: r.id, epoch: r.epoch }, { type: 'split', splitKey: codec.encodeBytes(te.encode(at)) });
}

/**
 * A round of 1-4 random puts and deletes in one transaction through the TxnClient; `lastWrite`
 * keeps each key's newest commit ts (a flashback rewrites every key written after its version,
 * even one whose value ended up the same).
 */
async function randomTxn(n: Node, rng: Rng, round: number, lastWrite: Map<string, bigint>): Promise<void> {
  const txn = await n.kernel.client().begin();
  const count = 1 + rng.int(4);
  const keys: string[] = [];
  for (let i = 0; i < count; i++) {
    const key = KEYS[rng.int(KEYS.length)]!;
    keys.push(key);
    if (rng.float() < 0.25) await txn.delete(te.encode(key));
    else await txn.put(te.encode(key), te.encode(`r${round}-${rng.int(1000)}`));
  }
  const commitTs = await txn.commit();
  for (const k of keys) lastWrite.set(k, commitTs);
}

/** The rows of a feed at one commit ts, and the resolved-ts invariant checked over every event. */
function checkFeed(t: ExecutionContext, events: readonly CdcEvent[], commitTs: bigint): CommitEvent[] {
  const resolved = new Map<number, bigint>();
  for (const e of events) {
    if (e.type === 'resolvedTs') {
      const before = resolved.get(e.regionId) ?? 0n;
      t.true(e.ts >= before, `resolved ts of region ${e.regionId} went back from ${before} to ${e.ts}`);
      resolved.set(e.regionId, e.ts);
    } else if (e.type === 'commit' || e.type === 'committed') {
      const r = resolved.get(e.regionId);
      if (r !== undefined) t.true(e.commitTs > r, `region ${e.regionId}: ${e.type} at ${e.commitTs} after resolved ts ${r}`);
    }
  }
  return events.filter((e): e is CommitEvent => (e.type === 'commit' || e.type === 'committed') && e.commitTs === commitTs);
}

test('seeded histories over raft: flashback to random versions across split regions equals the snapshot at the version, and a change feed sees exactly the rewrite', async (t) => {
  const seed = testSeed();
  t.log(`seed ${seed} (replay with SEED=${seed})`);
  const rng = new Rng(seed);
  const n = await startNode(seed);
  t.teardown(() => n.stop());
  for (const at of ['k06', 'k12', 'k18']) await split(n, at);
  const service = n.kernel.resolve(CDC);
  const events: CdcEvent[] = [];
  const sub = service.changefeed({ startTs: 0n }).subscribe((e) => events.push(e));
  t.teardown(() => sub.unsubscribe());
  const placement = n.kernel.resolve(PLACEMENT);

  const versions: bigint[] = [];
  const lastWrite = new Map<string, bigint>();
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 6; i++) await randomTxn(n, rng, round * 10 + i, lastWrite);
    versions.push(await placement.getTs());
    n.ticks.next();
  }
  // Three flashbacks in a row, each to a random earlier version (later ones flash back flashbacks).
  for (let f = 0; f < 3; f++) {
    const version = versions[rng.int(versions.length)]!;
    const expected = await readAt(n.kernel, version);
    const changed = KEYS.filter((k) => (lastWrite.get(k) ?? 0n) > version);
    const final = await n.fb.run({ version }).done;
    const after = await readAt(n.kernel, await placement.getTs());
    t.deepEqual(after, expected, `flashback ${f} to ${version} (seed ${seed})`);
    t.is(final.keysRewritten, changed.length, `flashback ${f}: keys rewritten (seed ${seed})`);
    t.is(final.regionsFinished, 4);
    // Store 1 (whose applies CDC watches) may be a follower a little behind the leader: wait,
    // boundedly, for the feed's global resolved ts to pass the flashback's commit ts.
    const deadline = Date.now() + 20_000;
    while (!events.some((e) => e.type === 'globalResolvedTs' && e.ts >= final.commitTs)) {
      if (Date.now() > deadline) return t.fail(`the feed's resolved ts did not reach ${final.commitTs} (seed ${seed})`);
      await service.tick();
      await new Promise((r) => setTimeout(r, 5));
    }
    const rows = checkFeed(t, events, final.commitTs);
    t.deepEqual(rows.map((e) => latin1(e.key)).sort(), changed, `the feed saw every rewritten key once (seed ${seed})`);
    for (const e of rows) t.is(e.op === 'delete' ? undefined : latin1(e.value!), expected[latin1(e.key)]);
    // One key per region with changes was locked at Prepare and committed last as a 2PC commit.
    const regionsChanged = new Set(changed.map((k) => placement.regionForKey(codec.encodeBytes(te.encode(k))).id));
    t.is(rows.filter((e) => e.type === 'commit').length, regionsChanged.size);
    for (const k of changed) lastWrite.set(k, final.commitTs);
    versions.push(await placement.getTs());
  }
  // The flashback state left every store's copy of every region: ordinary writes pass again.
  await randomTxn(n, rng, 99, lastWrite);
});

test('flashback while leadership moves between stores completes, and the region gate holds on the new leaders', async (t) => {
  const seed = testSeed();
  t.log(`seed ${seed} (replay with SEED=${seed})`);
  const rng = new Rng(seed);
  const n = await startNode(seed);
  t.teardown(() => n.stop());
  await split(n, 'k12');
  const placement = n.kernel.resolve(PLACEMENT);
  const lastWrite = new Map<string, bigint>();
  for (let i = 0; i < 8; i++) await randomTxn(n, rng, i, lastWrite);
  const version = await placement.getTs();
  n.ticks.next();
  for (let i = 0; i < 8; i++) await randomTxn(n, rng, 10 + i, lastWrite);
  const expected = await readAt(n.kernel, version);

  // Elections on random followers while the orchestrator prepares, rewrites and finishes: one
  // at every progress report, and more every few ms.
  let moving = true;
  let elections = 0;
  const elect = async () => {
    const cluster = n.cluster();
    const region = placement.regions()[rng.int(placement.regions().length)]!;
    const follower = cluster.stores.filter((s) => !s.peer(region.id).isLeader());
    if (follower.length === 0) return;
    await follower[rng.int(follower.length)]!.campaign(region.id);
    elections++;
  };
  const mover = (async () => {
    while (moving) {
      await elect();
      await new Promise((r) => setTimeout(r, 1 + rng.int(5)));
    }
  })();
  const run = n.fb.run({ version });
  const sub = run.progress$.subscribe(() => void elect());
  const final = await run.done.finally(() => {
    moving = false;
    sub.unsubscribe();
  });
  await mover;
  t.log(`elections forced during the flashback: ${elections}`);
  t.true(elections > 0);
  t.deepEqual(await readAt(n.kernel, await placement.getTs()), expected, `seed ${seed}`);
  t.is(final.regionsFinished, 2);

  // Prepare a region by hand, move its leader, and the new leader still refuses ordinary writes.
  const region = placement.regionForKey(codec.encodeBytes(te.encode('k00')));
  const startTs = await placement.getTs();
  await n.kernel.resolve(CONSENSUS).admin({ regionId: region.id, epoch: region.epoch }, { type: 'prepareFlashback', startTs });
  const cluster = n.cluster();
  const follower = cluster.stores.find((s) => !s.peer(region.id).isLeader())!;
  await follower.campaign(region.id);
  const txn = await n.kernel.client().begin();
  await txn.put(te.encode('k00'), te.encode('blocked'));
  const err = await txn.commit().then(
    () => undefined,
    (e: unknown) => e,
  );
  t.true(err instanceof KvError && err.code === 'FLASHBACK_IN_PROGRESS', `expected FLASHBACK_IN_PROGRESS, got ${String(err)}`);
  const fresh = placement.regionForKey(codec.encodeBytes(te.encode('k00')));
  await n.kernel.resolve(CONSENSUS).admin({ regionId: fresh.id, epoch: fresh.epoch }, { type: 'finishFlashback' });
  const ok = await n.kernel.client().begin();
  await ok.put(te.encode('k00'), te.encode('after'));
  await ok.commit();
  t.is(latin1((await n.kernel.storage.get(te.encode('k00'), await placement.getTs()))!), 'after');
});
