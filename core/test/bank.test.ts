/**
 * The seeded concurrent bank (issue 3): 16 clients move money between 10 accounts spread over
 * three regions (so transfers go both 1PC and 2PC, some optimistic, some pessimistic), while
 * auditors read every account in one snapshot. Each audit must sum to the initial total, show
 * no negative balance, read the same snapshot twice alike, and equal the replay of exactly the
 * transfers that committed before its start ts. Time is a ManualClock moved only by backoff
 * sleeps, so dead locks expire in simulated time. `SEED=n` replays a run.
 */
import test from 'ava';
import { codec, KvError, LocalConsensus, LocalPlacement, ManualClock, Storage, TxnClient, type Transaction } from '@flashkv/core';
import { bytes, latin1, ReferenceEngine, Rng, testSeed } from '@flashkv/core/testing';

const ACCOUNTS = 10;
const CLIENTS = 16;
const TRANSFERS_PER_CLIENT = 20;
const INITIAL = 100;
const accountKey = (i: number) => bytes(`acct${String(i).padStart(2, '0')}`);

interface Transfer {
  readonly commitTs: bigint;
  readonly from: number;
  readonly to: number;
  readonly amount: number;
}

async function runBank(seed: number) {
  const rng = new Rng(seed);
  const engine = new ReferenceEngine();
  const clock = new ManualClock(1_700_000_000_000);
  const placement = await LocalPlacement.open({ engine, clock });
  const consensus = new LocalConsensus({ engine, placement });
  const storage = new Storage({ consensus, placement });
  for (const at of [3, 7]) {
    const splitKey = codec.encodeBytes(accountKey(at));
    const r = placement.regionForKey(splitKey);
    await consensus.admin({ regionId: r.id, epoch: r.epoch }, { type: 'split', splitKey });
  }
  const sleep = async (ms: number) => {
    clock.advance(ms);
    await new Promise((r) => setImmediate(r));
  };
  const clients = Array.from({ length: CLIENTS }, (_, i) => new TxnClient({ storage, sleep, seed: seed + i }));

  const init = await clients[0]!.begin();
  for (let i = 0; i < ACCOUNTS; i++) await init.put(accountKey(i), bytes(String(INITIAL)));
  await init.commit();
  await clients[0]!.idle();

  const committed: Transfer[] = [];
  const stats = { transfers: 0, retries: 0, onePc: 0, twoPc: 0, audits: 0 };
  const failures: string[] = [];

  async function audit(client: TxnClient): Promise<void> {
    const txn = await client.begin();
    const scanned = await txn.scan({ start: bytes('acct'), end: bytes('acct~') });
    const got = await txn.batchGet(Array.from({ length: ACCOUNTS }, (_, i) => accountKey(i)));
    await txn.rollback();
    const balances = scanned.map((kv) => Number(latin1(kv.value)));
    const total = balances.reduce((a, b) => a + b, 0);
    if (scanned.length !== ACCOUNTS) failures.push(`audit at ${txn.startTs} saw ${scanned.length} accounts`);
    if (total !== ACCOUNTS * INITIAL) failures.push(`audit at ${txn.startTs}: total ${total}`);
    if (balances.some((b) => b < 0)) failures.push(`audit at ${txn.startTs}: negative balance ${balances}`);
    if (JSON.stringify(got.map((kv) => latin1(kv.value))) !== JSON.stringify(scanned.map((kv) => latin1(kv.value)))) {
      failures.push(`audit at ${txn.startTs}: scan and batchGet of one snapshot differ`);
    }
    // The snapshot must be exactly the transfers committed before the read ts.
    const expected = new Array<number>(ACCOUNTS).fill(INITIAL);
    for (const tr of committed) {
      if (tr.commitTs < txn.startTs) {
        expected[tr.from]! -= tr.amount;
        expected[tr.to]! += tr.amount;
      }
    }
    if (JSON.stringify(expected) !== JSON.stringify(balances)) failures.push(`audit at ${txn.startTs}: saw ${balances}, committed history says ${expected}`);
    stats.audits++;
  }

  async function transfer(client: TxnClient, wr: Rng, pessimistic: boolean): Promise<void> {
    const from = wr.int(ACCOUNTS);
    let to = wr.int(ACCOUNTS - 1);
    if (to >= from) to++;
    for (;;) {
      const txn: Transaction = await client.begin({ pessimistic });
      try {
        const read = (k: number) => (pessimistic ? txn.getForUpdate(accountKey(k)) : txn.get(accountKey(k)));
        const fromBal = Number(latin1((await read(from))!));
        const toBal = Number(latin1((await read(to))!));
        const amount = wr.int(Math.min(fromBal, 30) + 1);
        await txn.put(accountKey(from), bytes(String(fromBal - amount)));
        await txn.put(accountKey(to), bytes(String(toBal + amount)));
        const commitTs = await txn.commit();
        committed.push({ commitTs, from, to, amount });
        stats.transfers++;
        if (txn.commitPath === '1pc') stats.onePc++;
        else stats.twoPc++;
        return;
      } catch (e) {
        // Aborted for certain: a conflict, or rolled back by another client resolving our locks.
        if (e instanceof KvError && (e.code === 'WRITE_CONFLICT' || e.code === 'TXN_LOCK_NOT_FOUND')) {
          stats.retries++;
          if (txn.state === 'active') await txn.rollback();
          continue;
        }
        throw e;
      }
    }
  }

  await Promise.all(
    clients.map(async (client, i) => {
      const wr = rng.fork();
      for (let n = 0; n < TRANSFERS_PER_CLIENT; n++) {
        await transfer(client, wr, i % 4 === 3);
        if (wr.chance(0.15)) await audit(client);
      }
    }),
  );
  for (const c of clients) await c.idle();
  await audit(clients[0]!);
  return { stats, failures };
}

test('concurrent bank transfers: every snapshot read sums to the same total and matches the committed history', async (t) => {
  const seed = testSeed();
  t.log(`seed ${seed}`);
  const { stats, failures } = await runBank(seed);
  t.log(JSON.stringify(stats));
  t.deepEqual(failures, [], `seed ${seed}`);
  t.is(stats.transfers, CLIENTS * TRANSFERS_PER_CLIENT, `seed ${seed}`);
  // The run must exercise what it claims to.
  t.true(stats.onePc > 0 && stats.twoPc > 0, `seed ${seed}: both commit paths (${stats.onePc} 1PC, ${stats.twoPc} 2PC)`);
  t.true(stats.retries > 0, `seed ${seed}: transfers did contend`);
  t.true(stats.audits > 10, `seed ${seed}: only ${stats.audits} audits`);
});
