// Placement on raft across real processes: three node-main processes on engine-lsm each run a
// meta (placement) peer; the TSO is served by the meta leader, a request to a follower comes back
// NOT_LEADER with the leader's store id and the client follows it. The meta leader is SIGKILLed
// while clients keep asking; every ts any client got is unique and each client's are increasing,
// and ts handed out after the kill are above all before it. Placement commands (a job record)
// survive the kill too, and the killed node restarts and rejoins.
import test from 'ava';
import { testSeed } from '@flashkv/core/testing';
import { encodeJobRecord } from '@flashkv/core';
import { OP_TSO, RaftClientError, getTsFromCluster, proposeToCluster, type RaftClient } from '../src/index.js';
import { ProcCluster } from './proc-cluster.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function metaLeader(c: ProcCluster, client: RaftClient, ms = 15000): Promise<number> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    for (const id of c.nodes.keys()) {
      if (!c.alive(id)) continue;
      try {
        const s = await client.status(id);
        if (s.metaIsLeader) return id;
      } catch {
        // a dead or starting node
      }
    }
    await sleep(50);
  }
  throw new Error('no meta leader');
}

test.serial('meta group over 3 processes: TSO from the meta leader, NOT_LEADER hints followed, the leader SIGKILLed under load and ts stay unique and increasing', async (t) => {
  const seed = testSeed();
  t.log(`SEED=${seed}`);
  const started = Date.now();
  const c = await ProcCluster.start({ tickMs: 50, seed });
  t.log(`cluster up in ${Date.now() - started} ms`);
  const clients: RaftClient[] = [];
  try {
    const admin = c.client({ timeoutMs: 3000, deadlineMs: 15000 });
    clients.push(admin);
    // A follower that knows the leader refuses with the leader's store id.
    let leader = await metaLeader(c, admin);
    let follower = [...c.nodes.keys()].find((id) => id !== leader)!;
    for (let i = 0; i < 200 && (await admin.status(follower)).metaLeaderStore !== leader; i++) {
      await sleep(25);
      leader = await metaLeader(c, admin);
      follower = [...c.nodes.keys()].find((id) => id !== leader)!;
    }
    const err = await t.throwsAsync(admin.direct(follower, { op: OP_TSO, count: 1 }));
    t.true(err instanceof RaftClientError && err.code === 'NOT_LEADER', String(err));
    t.is((err as RaftClientError).leaderStore, (await admin.status(follower)).metaLeaderStore);
    t.not((err as RaftClientError).leaderStore, 0);
    // The routed client follows it.
    const first = await getTsFromCluster(admin, 3);
    t.true(first[0]! < first[1]! && first[1]! < first[2]!);
    await proposeToCluster(admin, { op: 'putJob', id: 'job-a', record: encodeJobRecord({ startTs: first[0]! }) });

    const got: bigint[][] = [];
    let killAt = 0;
    const before: bigint[] = [];
    const t0 = Date.now();
    const workers = Array.from({ length: 4 }, async (_, w) => {
      const cl = c.client({ timeoutMs: 2000, deadlineMs: 10000 });
      clients.push(cl);
      const mine: bigint[] = [];
      got.push(mine);
      while (Date.now() - t0 < 2500) {
        const asked = Date.now();
        const ts = await getTsFromCluster(cl, 1 + (w % 3));
        for (const x of ts) {
          if (mine.length > 0 && x <= mine[mine.length - 1]!) t.fail(`worker ${w}: ts ${x} not above its previous ${mine[mine.length - 1]}`);
          mine.push(x);
          if (killAt === 0 || asked < killAt) before.push(x);
        }
      }
    });
    await sleep(800);
    const victim = await metaLeader(c, admin);
    killAt = Date.now();
    await c.kill(victim, 'SIGKILL');
    t.log(`SIGKILLed meta leader store ${victim} at +${killAt - t0} ms`);
    await Promise.all(workers);
    const all = got.flat();
    t.is(new Set(all).size, all.length, 'no ts handed out twice');
    const maxBefore = before.reduce((a, b) => (b > a ? b : a), 0n);
    const afterKill = await getTsFromCluster(admin, 1);
    t.true(afterKill[0]! > maxBefore, 'a ts asked for after the kill is above every ts before it');
    const newLeader = await metaLeader(c, admin);
    t.not(newLeader, victim);
    t.true(all.length > 20, `ts handed out under load: ${all.length}`);
    t.log(`${all.length} ts handed out; new meta leader store ${newLeader} (+${Date.now() - t0} ms)`);
    // The job record committed before the kill is on the new leader: deleting it finds it.
    const del = await proposeToCluster(admin, { op: 'deleteJob', id: 'job-a' });
    t.is(del.result, true);
    // The killed node restarts from its data dir and rejoins the meta group as a follower that knows the leader.
    await c.spawn(victim);
    const end = Date.now() + 15000;
    let st = await admin.status(victim);
    while (st.metaLeaderStore === 0 && Date.now() < end) {
      await sleep(50);
      st = await admin.status(victim);
    }
    t.not(st.metaLeaderStore, 0, 'the restarted node follows a meta leader');
    t.not(st.metaLeaderStore, victim);
    const later = await getTsFromCluster(admin, 1);
    t.true(later[0]! > afterKill[0]!);
  } finally {
    for (const cl of clients) cl.close();
    await c.stop();
  }
});
