// Real processes on loopback: three node-main processes on engine-lsm, the TCP transport between
// them, clients over the node protocol. Faults: SIGKILL of the leader, a leader isolated at the
// transport. Seeded (the seed drives the load and the nodes' election jitter); SEED=n replays
// the choices, though process timing is the OS's.
import test from 'ava';
import { Rng, testSeed } from '@flashkv/core/testing';
import { OP_PUT, RaftClientError, readU64, u64Bytes, type RaftClient } from '../src/index.js';
import { checkRegister, type RegisterOp } from './linearizability.js';
import { ProcCluster } from './proc-cluster.js';

const enc = new TextEncoder();
const dec = new TextDecoder();
const k = (s: string): Uint8Array => enc.encode(s);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Waits until every live node has applied what the leader has committed. */
async function converged(c: ProcCluster, client: RaftClient, ms = 10000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    const leader = await c.leader(client);
    const commit = (await client.status(leader)).commit;
    let all = true;
    for (const id of c.nodes.keys()) if ((await client.status(id)).applied < commit) all = false;
    if (all) return;
    if (Date.now() > end) throw new Error('nodes did not converge');
    await sleep(50);
  }
}

async function inChunks<T, R>(items: readonly T[], n: number, fn: (x: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += n) out.push(...(await Promise.all(items.slice(i, i + n).map(fn))));
  return out;
}

test.serial('bank over 3 processes: the leader is SIGKILLed during a transfer load; every acknowledged transfer is present, none refused is, and balances match the transfers that applied', async (t) => {
  const seed = testSeed();
  t.log(`SEED=${seed}`);
  const rng = new Rng(seed);
  const c = await ProcCluster.start({ tickMs: 50, seed, testHooks: true });
  const clients: RaftClient[] = [];
  try {
    const admin = c.client({ timeoutMs: 3000, deadlineMs: 15000 });
    clients.push(admin);
    const ACCOUNTS = 8;
    const INIT = 1000n;
    const acct = (i: number): Uint8Array => k(`acct/${i}`);
    await admin.mput(Array.from({ length: ACCOUNTS }, (_, i) => [acct(i), u64Bytes(INIT)] as const));

    type Attempt = { record: Uint8Array; from: number; to: number; amount: bigint; outcome: 'ok' | 'insufficient' | 'refused' | 'unknown'; at: number };
    const attempts: Attempt[] = [];
    const t0 = Date.now();
    const loadMs = 4500;
    let killedAt = 0;
    const workers = Array.from({ length: 5 }, async (_, w) => {
      const wr = rng.fork();
      const cl = c.client({ timeoutMs: 2000, deadlineMs: 8000 });
      clients.push(cl);
      for (let seq = 0; Date.now() - t0 < loadMs; seq++) {
        const from = wr.int(ACCOUNTS);
        const to = (from + 1 + wr.int(ACCOUNTS - 1)) % ACCOUNTS;
        const amount = BigInt(1 + wr.int(50));
        const a: Attempt = { record: k(`rec/${w}/${seq}`), from, to, amount, outcome: 'unknown', at: Date.now() - t0 };
        attempts.push(a);
        try {
          a.outcome = (await cl.transfer(acct(from), acct(to), amount, a.record)) ? 'ok' : 'insufficient';
        } catch (e) {
          if (!(e instanceof RaftClientError)) throw e;
          a.outcome = e.certain ? 'refused' : 'unknown';
        }
      }
    });
    await sleep(1200);
    const victim = await c.leader(admin);
    await c.kill(victim, 'SIGKILL');
    killedAt = Date.now() - t0;
    t.log(`SIGKILL leader store ${victim} at ${killedAt} ms`);
    await sleep(1500);
    await c.spawn(victim);
    t.log(`store ${victim} restarted at ${Date.now() - t0} ms`);
    await Promise.all(workers);
    await converged(c, admin);

    const count = (o: Attempt['outcome']): number => attempts.filter((a) => a.outcome === o).length;
    t.log(`transfers: ${attempts.length} attempted, ${count('ok')} acknowledged, ${count('insufficient')} insufficient, ${count('refused')} refused, ${count('unknown')} unknown`);
    t.true(attempts.some((a) => a.outcome === 'ok' && a.at > killedAt), 'transfers were acknowledged after the failover');

    const balances = await inChunks([...Array(ACCOUNTS).keys()], 8, async (i) => readU64((await admin.get(acct(i)))!));
    t.is(balances.reduce((s, b) => s + b, 0n), INIT * BigInt(ACCOUNTS), 'the bank invariant: money is neither created nor lost');
    const records = await inChunks(attempts, 32, async (a) => admin.get(a.record));
    const expected: bigint[] = Array(ACCOUNTS).fill(INIT);
    attempts.forEach((a, i) => {
      const rec = records[i];
      if (a.outcome === 'ok') t.deepEqual(rec && readU64(rec), a.amount, `acknowledged transfer ${dec.decode(a.record)} is present`);
      if (a.outcome === 'refused' || a.outcome === 'insufficient') t.is(rec, undefined, `${a.outcome} transfer ${dec.decode(a.record)} did not apply`);
      if (rec) {
        expected[a.from]! -= a.amount;
        expected[a.to]! += a.amount;
      }
    });
    t.deepEqual(balances, expected, 'balances are the initial ones plus exactly the transfers whose records exist');
    // Every store, the restarted one included, applied each record at most once since it started.
    for (const id of c.nodes.keys()) {
      const counts = await inChunks(attempts.slice(0, 40), 20, (a) => admin.appliedCount(id, a.record));
      t.true(counts.every((n) => n <= 1), `store ${id} applied no record twice`);
    }
  } finally {
    for (const cl of clients) cl.close();
    await c.stop();
  }
});

test.serial('partition over 3 processes: the isolated leader loses leadership, a new one is elected, the old leader\'s pending writes fail after heal and apply nowhere, other writes apply exactly once everywhere', async (t) => {
  const seed = testSeed();
  t.log(`SEED=${seed}`);
  const c = await ProcCluster.start({ tickMs: 50, seed, testHooks: true });
  const admin = c.client({ timeoutMs: 3000, deadlineMs: 15000 });
  const slow = c.client({ timeoutMs: 20000 });
  try {
    await admin.put(k('before'), k('1'));
    const old = await c.leader(admin);
    const others = [...c.nodes.keys()].filter((s) => s !== old);
    await admin.isolate(old, others);
    for (const o of others) await admin.isolate(o, [old]);
    // Writes sent straight to the isolated leader: proposed into its log, never committed.
    const pendingKeys = Array.from({ length: 5 }, (_, i) => k(`pending/${i}`));
    const pending = pendingKeys.map((key) =>
      slow.direct(old, { op: OP_PUT, key, value: k('x') }).then(
        () => 'acknowledged',
        (e: unknown) => (e instanceof RaftClientError ? `${e.code}:${e.certain}` : String(e)),
      ),
    );
    let fresh = 0;
    const end = Date.now() + 10000;
    while (fresh === 0 && Date.now() < end) {
      for (const o of others) if ((await admin.status(o)).isLeader) fresh = o;
      await sleep(50);
    }
    t.not(fresh, 0, 'a new leader was elected among the majority');
    t.log(`old leader ${old}, new leader ${fresh}`);
    await admin.direct(fresh, { op: OP_PUT, key: k('after'), value: k('2') });
    for (const id of c.nodes.keys()) await admin.isolate(id, []);
    const outcomes = await Promise.all(pending);
    t.deepEqual(outcomes, pendingKeys.map(() => 'NOT_LEADER:true'), 'each pending write failed as certainly not applied');
    await converged(c, admin);
    const st = await admin.status(old);
    t.false(st.isLeader);
    for (const id of c.nodes.keys()) {
      for (const key of pendingKeys) t.is(await admin.appliedCount(id, key), 0, `store ${id} never applied ${dec.decode(key)}`);
      t.is(await admin.appliedCount(id, k('after')), 1, `store ${id} applied the new leader's write once`);
      t.is(await admin.appliedCount(id, k('before')), 1, `store ${id} applied the first write once`);
    }
    for (const key of pendingKeys) t.is(await admin.get(key), undefined);
    t.deepEqual(await admin.get(k('after')), k('2'));
  } finally {
    admin.close();
    slow.close();
    await c.stop();
  }
});

test.serial('linearizability: a register history from concurrent clients through SIGKILL, restart and leader isolation passes the WGL check', async (t) => {
  const seed = testSeed();
  t.log(`SEED=${seed}`);
  const rng = new Rng(seed);
  const c = await ProcCluster.start({ tickMs: 50, seed, testHooks: true });
  const clients: RaftClient[] = [];
  try {
    const admin = c.client({ timeoutMs: 2000, deadlineMs: 15000 });
    clients.push(admin);
    await c.leader(admin);
    const KEYS = 3;
    const histories: RegisterOp[][] = Array.from({ length: KEYS }, () => []);
    const t0 = performance.now();
    const runMs = 6000;
    let unique = 0;
    const workers = Array.from({ length: 5 }, async () => {
      const wr = rng.fork();
      const cl = c.client({ timeoutMs: 1000, deadlineMs: 2500 });
      clients.push(cl);
      while (performance.now() - t0 < runMs) {
        const key = wr.int(KEYS);
        const rk = k(`reg/${key}`);
        if (wr.chance(0.5)) {
          const value = `v${unique++}`;
          const call = performance.now();
          try {
            await cl.put(rk, k(value), false);
            histories[key]!.push({ kind: 'put', value, call, ret: performance.now() });
          } catch (e) {
            if (!(e instanceof RaftClientError)) throw e;
            if (!e.certain) histories[key]!.push({ kind: 'put', value, call, ret: Infinity });
          }
        } else {
          const call = performance.now();
          try {
            const got = await cl.get(rk);
            histories[key]!.push({ kind: 'get', value: got === undefined ? undefined : dec.decode(got), call, ret: performance.now() });
          } catch (e) {
            if (!(e instanceof RaftClientError)) throw e;
          }
        }
      }
    });
    const faults = (async () => {
      await sleep(1000);
      const victim = await c.leader(admin);
      await c.kill(victim, 'SIGKILL');
      t.log(`SIGKILL leader ${victim} at ${Math.round(performance.now() - t0)} ms`);
      await sleep(1500);
      await c.spawn(victim);
      await sleep(800);
      const isolated = await c.leader(admin);
      const rest = [...c.nodes.keys()].filter((s) => s !== isolated);
      await admin.isolate(isolated, rest);
      for (const o of rest) await admin.isolate(o, [isolated]);
      t.log(`isolated leader ${isolated} at ${Math.round(performance.now() - t0)} ms`);
      await sleep(1200);
      for (const id of c.nodes.keys()) await admin.isolate(id, []);
      t.log(`healed at ${Math.round(performance.now() - t0)} ms`);
    })();
    await Promise.all([...workers, faults]);
    let completed = 0;
    histories.forEach((h, i) => {
      const done = h.filter((o) => o.ret !== Infinity).length;
      completed += done;
      t.log(`reg/${i}: ${h.length} ops (${h.filter((o) => o.kind === 'get').length} reads, ${h.filter((o) => o.ret === Infinity).length} unknown writes)`);
      t.true(checkRegister(h), `reg/${i} history is linearizable (SEED=${seed})`);
    });
    t.true(completed >= 60, `enough completed ops to mean something: ${completed}`);
  } finally {
    for (const cl of clients) cl.close();
    await c.stop();
  }
});
