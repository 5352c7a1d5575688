/**
 * The seeded concurrent bank workload (issue 3), shared so every engine runs the same check:
 * `clients` TxnClients move money between `accounts` accounts spread over three regions (so
 * transfers commit both 1PC and 2PC, one client in four pessimistic, with heartbeats), while
 * auditors read every account in one snapshot. Each audit must sum to the initial total, show no
 * negative balance, read alike through scan and batchGet, and, checked once the run is over,
 * equal the replay of exactly the transfers that committed before its start ts. Time is
 * simulated: backoff sleeps move the ManualClock, heartbeats wait for it, so dead locks expire
 * and live ones are kept alive in simulated time. The same seed replays the same run.
 */
import type { ExecutionContext } from 'ava';
import type { ManualClock } from '../clock.js';
import { encodeBytes } from '../codec/index.js';
import { KvError } from '../errors.js';
import type { Transaction } from '../txn/client/transaction.js';
import { TxnClient } from '../txn/client/txn-client.js';
import type { Storage } from '../txn/storage/storage.js';
import { bytes, latin1 } from './bytes.js';
import { Rng } from './rng.js';
import { SimulatedTimers } from './sim-timers.js';

export interface BankOptions {
  /** A fresh store (no accounts yet, one region); the workload splits it. */
  readonly storage: Storage;
  /** The clock the store's placement (TSO) reads. */
  readonly clock: ManualClock;
  readonly seed: number;
  readonly clients?: number;
  readonly accounts?: number;
  readonly transfersPerClient?: number;
  /** Chance of an audit after each transfer. Default 0.15. */
  readonly auditChance?: number;
}

export interface BankStats {
  transfers: number;
  /** Transfers aborted (write conflict, or rolled back by a resolver) and run again. */
  retries: number;
  /**
   * Transfers that gave up waiting for a live lock (KEY_IS_LOCKED once the backoff budget is
   * spent: two pessimistic transfers locking the same accounts in opposite orders wait on each
   * other while their heartbeats keep both alive, unless Storage's detector saw the cycle), rolled
   * back and run again after a random pause, as an application retries a lock wait timeout.
   */
  lockWaitTimeouts: number;
  /** Pessimistic transfers refused with DEADLOCK (their wait would close a cycle), rolled back and run again. */
  deadlocks: number;
  onePc: number;
  twoPc: number;
  pessimistic: number;
  audits: number;
  heartbeats: number;
}

export interface BankResult {
  readonly stats: BankStats;
  /** Every broken invariant, each naming the audit's ts; empty when the run is correct. */
  readonly failures: string[];
}

const INITIAL = 100;

export async function runBankWorkload(options: BankOptions): Promise<BankResult> {
  const { storage, clock, seed } = options;
  const clientCount = options.clients ?? 16;
  const accounts = options.accounts ?? 10;
  const perClient = options.transfersPerClient ?? 20;
  const auditChance = options.auditChance ?? 0.15;
  const accountKey = (i: number) => bytes(`acct${String(i).padStart(2, '0')}`);
  const rng = new Rng(seed);

  for (const at of [Math.floor(accounts * 0.3), Math.floor(accounts * 0.7)]) {
    const splitKey = encodeBytes(accountKey(at));
    const r = storage.placement.regionForKey(splitKey);
    await storage.consensus.admin({ regionId: r.id, epoch: r.epoch }, { type: 'split', splitKey });
  }
  const timers = new SimulatedTimers(clock);
  const clients = Array.from(
    { length: clientCount },
    // A 5 s lock wait budget (TiKV client's is 20 s): deadlocked pessimistic transfers give up sooner.
    (_, i) => new TxnClient({ storage, sleep: timers.advancingSleep, heartbeatSleep: timers.sleep, backoffBudgetMs: 5000, seed: (seed + i) >>> 0 }),
  );

  const init = await clients[0]!.begin();
  for (let i = 0; i < accounts; i++) await init.put(accountKey(i), bytes(String(INITIAL)));
  await init.commit();
  await clients[0]!.idle();

  const committed: Array<{ commitTs: bigint; from: number; to: number; amount: number }> = [];
  const audits: Array<{ ts: bigint; balances: number[] }> = [];
  const stats: BankStats = { transfers: 0, retries: 0, lockWaitTimeouts: 0, deadlocks: 0, onePc: 0, twoPc: 0, pessimistic: 0, audits: 0, heartbeats: 0 };
  const failures: string[] = [];

  async function audit(client: TxnClient): Promise<void> {
    const txn = await client.begin();
    const scanned = await txn.scan({ start: bytes('acct'), end: bytes('acct~') });
    const got = await txn.batchGet(Array.from({ length: accounts }, (_, i) => accountKey(i)));
    await txn.rollback();
    const balances = scanned.map((kv) => Number(latin1(kv.value)));
    const total = balances.reduce((a, b) => a + b, 0);
    if (scanned.length !== accounts) failures.push(`audit at ${txn.startTs} saw ${scanned.length} accounts`);
    if (total !== accounts * INITIAL) failures.push(`audit at ${txn.startTs}: total ${total}, expected ${accounts * INITIAL}`);
    if (balances.some((b) => !(b >= 0))) failures.push(`audit at ${txn.startTs}: bad balance in ${balances}`);
    if (JSON.stringify(got.map((kv) => latin1(kv.value))) !== JSON.stringify(scanned.map((kv) => latin1(kv.value)))) {
      failures.push(`audit at ${txn.startTs}: scan and batchGet of one snapshot differ`);
    }
    audits.push({ ts: txn.startTs, balances });
    stats.audits++;
  }

  async function transfer(client: TxnClient, wr: Rng, pessimistic: boolean): Promise<void> {
    const from = wr.int(accounts);
    let to = wr.int(accounts - 1);
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
        stats.heartbeats += txn.heartbeatsSent;
        if (pessimistic) stats.pessimistic++;
        if (txn.commitPath === '1pc') stats.onePc++;
        else stats.twoPc++;
        return;
      } catch (e) {
        // Aborted for certain: a conflict, or rolled back by another client resolving our locks.
        // A lock wait that timed out aborted it as well (commit rolls back what it prewrote; an
        // active txn is rolled back here, releasing its pessimistic locks).
        if (e instanceof KvError && (e.code === 'WRITE_CONFLICT' || e.code === 'TXN_LOCK_NOT_FOUND' || e.code === 'KEY_IS_LOCKED' || e.code === 'DEADLOCK')) {
          if (txn.state === 'active') await txn.rollback();
          if (e.code === 'KEY_IS_LOCKED' || e.code === 'DEADLOCK') {
            if (e.code === 'DEADLOCK') stats.deadlocks++;
            else stats.lockWaitTimeouts++;
            // Run again at once, the same transfer would take the same first lock and close the
            // same cycle before the other side's backoff ends; a random pause lets one through.
            await timers.advancingSleep(1 + wr.int(5000));
          } else stats.retries++;
          continue;
        }
        throw e;
      }
    }
  }

  await Promise.all(
    clients.map(async (client, i) => {
      const wr = rng.fork();
      for (let n = 0; n < perClient; n++) {
        await transfer(client, wr, i % 4 === 3);
        if (wr.chance(auditChance)) await audit(client);
      }
    }),
  );
  for (const c of clients) await c.close();
  await audit(clients[0]!);

  // Every audit's snapshot must be exactly the transfers committed before its ts (checked now
  // that every commit ts is known, so a commit still resolving during an audit is counted).
  for (const a of audits) {
    const expected = new Array<number>(accounts).fill(INITIAL);
    for (const tr of committed) {
      if (tr.commitTs < a.ts) {
        expected[tr.from]! -= tr.amount;
        expected[tr.to]! += tr.amount;
      }
    }
    if (JSON.stringify(expected) !== JSON.stringify(a.balances)) failures.push(`audit at ${a.ts}: saw ${a.balances}, committed history says ${expected}`);
  }
  if (timers.pending !== 0) failures.push(`${timers.pending} sleepers still waiting after every client closed`);
  return { stats, failures };
}

/**
 * The checks every bank run must pass: no invariant failure, every transfer done, and the run
 * exercised what it claims to (both commit paths, pessimistic transfers, contention, audits).
 */
export function assertBankRun(t: ExecutionContext, result: BankResult, seed: number): void {
  const { stats, failures } = result;
  t.log(JSON.stringify(stats));
  t.deepEqual(failures, [], `seed ${seed}`);
  t.is(stats.transfers, 16 * 20, `seed ${seed}`);
  t.true(stats.onePc > 0 && stats.twoPc > 0, `seed ${seed}: both commit paths (${stats.onePc} 1PC, ${stats.twoPc} 2PC)`);
  t.true(stats.pessimistic > 0, `seed ${seed}: pessimistic transfers`);
  t.true(stats.retries + stats.lockWaitTimeouts > 0, `seed ${seed}: transfers did contend`);
  t.true(stats.audits > 10, `seed ${seed}: only ${stats.audits} audits`);
}
