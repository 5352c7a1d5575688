/**
 * Seeded model test: random single-threaded interleavings of transactions (begin, prewrite,
 * commit, rollback, a crash resolved by another client, GC) against a map of committed versions.
 * Every get and scan at a random ts must match the model, including KEY_IS_LOCKED. `SEED=n`
 * replays a failure; the seed is in every failure message.
 */
import test from 'ava';
import { MvccTxn, isKvError, locksOfTxn, prewrite, resolveLock, commit, rollback, gc, type Mutation } from '@flashkv/core';
import { Rng, bytes, latin1, testSeed } from '@flashkv/core/testing';
import { Store, k } from './mvcc-must.js';

const KEYS = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];

type Op = 'put' | 'delete' | 'lock';
interface Mut {
  readonly key: string;
  readonly op: Op;
  readonly value: string;
}
interface OpenTxn {
  readonly startTs: bigint;
  readonly muts: Mut[];
  prewritten: boolean;
}

class Model {
  /** key -> committed Put/Delete versions, ascending commit ts; null is a Delete. */
  readonly versions = new Map<string, Array<{ commitTs: bigint; value: string | null }>>();
  readonly locks = new Map<string, { startTs: bigint; op: Op }>();
  /** Every ts a rollback record was written at, per key (collapsing may have removed some since). */
  readonly rollbacks = new Map<string, Set<bigint>>();

  visible(key: string, ts: bigint): string | null {
    let v: string | null = null;
    for (const ver of this.versions.get(key) ?? []) if (ver.commitTs <= ts) v = ver.value;
    return v;
  }

  /** Newest commit ts of any record type (a Lock record conflicts like a Put). */
  readonly newest = new Map<string, bigint>();

  newestCommit(key: string): bigint {
    return this.newest.get(key) ?? -1n;
  }

  /** The key's lock blocks a read at ts (Put/Delete lock started at or before it). */
  blocks(key: string, ts: bigint): boolean {
    const l = this.locks.get(key);
    return l !== undefined && l.startTs <= ts && l.op !== 'lock';
  }

  commit(txn: OpenTxn, commitTs: bigint): void {
    for (const m of txn.muts) {
      this.locks.delete(m.key);
      this.newest.set(m.key, commitTs);
      if (m.op === 'lock') continue;
      const list = this.versions.get(m.key) ?? [];
      list.push({ commitTs, value: m.op === 'put' ? m.value : null });
      this.versions.set(m.key, list);
    }
  }

  rollback(txn: OpenTxn): void {
    for (const m of txn.muts) {
      if (this.locks.get(m.key)?.startTs === txn.startTs) this.locks.delete(m.key);
      const set = this.rollbacks.get(m.key) ?? new Set<bigint>();
      set.add(txn.startTs);
      this.rollbacks.set(m.key, set);
    }
  }
}

function randomValue(rng: Rng): string {
  const n = rng.chance(0.2) ? 256 + rng.int(200) : 1 + rng.int(8);
  let s = '';
  for (let i = 0; i < n; i++) s += String.fromCharCode(97 + rng.int(26));
  return s;
}

async function runSequence(seed: number, steps: number): Promise<{ gets: number; scans: number; commits: number; conflicts: number }> {
  const rng = new Rng(seed);
  const s = new Store();
  const model = new Model();
  const open: OpenTxn[] = [];
  let clock = 1n;
  let safePoint = 0n;
  const stats = { gets: 0, scans: 0, commits: 0, conflicts: 0 };
  const fail = (msg: string): never => {
    throw new Error(`seed ${seed}: ${msg}`);
  };

  async function rollbackTxn(txn: OpenTxn): Promise<void> {
    await s.run(txn.startTs, (mt, r) => {
      for (const m of txn.muts) rollback(mt, r, k(m.key));
    });
    model.rollback(txn);
  }

  async function commitTxn(txn: OpenTxn, crash: boolean): Promise<void> {
    const commitTs = ++clock;
    // Primary first, as a client must; a crashed client stops after it and a reader resolves the rest.
    await s.run(txn.startTs, (mt, r) => commit(mt, r, k(txn.muts[0]!.key), commitTs));
    if (crash) {
      await s.run(txn.startTs, (mt, r) => {
        for (const { key } of locksOfTxn(r, txn.startTs)) resolveLock(mt, r, key, commitTs);
      });
    } else {
      for (const m of txn.muts.slice(1)) await s.run(txn.startTs, (mt, r) => commit(mt, r, k(m.key), commitTs));
    }
    model.commit(txn, commitTs);
    stats.commits++;
  }

  function checkGet(key: string, ts: bigint): void {
    stats.gets++;
    let got: string | null;
    try {
      const v = s.reader().get(k(key), ts);
      got = v === undefined ? null : latin1(v);
    } catch (e) {
      if (!isKvError(e, 'KEY_IS_LOCKED')) throw e;
      if (!model.blocks(key, ts)) fail(`get ${key}@${ts}: unexpected KEY_IS_LOCKED`);
      return;
    }
    if (model.blocks(key, ts)) fail(`get ${key}@${ts}: expected KEY_IS_LOCKED, got ${got}`);
    const want = model.visible(key, ts);
    if (got !== want) fail(`get ${key}@${ts}: got ${got?.slice(0, 12)} want ${want?.slice(0, 12)}`);
  }

  function checkScan(): void {
    stats.scans++;
    const i = rng.int(KEYS.length);
    const j = i + 1 + rng.int(KEYS.length - i);
    const start = rng.chance(0.2) ? undefined : KEYS[i]!;
    const end = j >= KEYS.length || rng.chance(0.2) ? undefined : KEYS[j]!;
    const limit = rng.chance(0.5) ? undefined : 1 + rng.int(4);
    const reverse = rng.chance(0.5);
    const keyOnly = rng.chance(0.2);
    const ts = safePoint + BigInt(rng.int(Number(clock - safePoint) + 2));
    const inRange = KEYS.filter((key) => (start === undefined || key >= start) && (end === undefined || key < end));
    const ordered = reverse ? [...inRange].reverse() : inRange;
    // Walk as the scanner does: locks are checked on every key up to the limit-th result.
    let expectLocked = false;
    const want: Array<[string, string]> = [];
    for (const key of ordered) {
      if (model.blocks(key, ts)) {
        expectLocked = true;
        break;
      }
      const v = model.visible(key, ts);
      if (v !== null) want.push([key, keyOnly ? '' : v]);
      if (limit !== undefined && want.length === limit) break;
    }
    const what = `scan [${start ?? ''}, ${end ?? ''}) @${ts} limit ${limit} reverse ${reverse}`;
    let got: Array<[string, string]>;
    try {
      got = s
        .reader()
        .scan({ start: start === undefined ? undefined : bytes(start), end: end === undefined ? undefined : bytes(end), ts, limit, reverse, keyOnly })
        .map((p) => [latin1(p.key), latin1(p.value)]);
    } catch (e) {
      if (!isKvError(e, 'KEY_IS_LOCKED')) throw e;
      if (!expectLocked) fail(`${what}: unexpected KEY_IS_LOCKED`);
      return;
    }
    if (expectLocked) fail(`${what}: expected KEY_IS_LOCKED`);
    if (JSON.stringify(got) !== JSON.stringify(want)) fail(`${what}: got ${JSON.stringify(got).slice(0, 200)} want ${JSON.stringify(want).slice(0, 200)}`);
  }

  for (let step = 0; step < steps; step++) {
    const roll = rng.int(100);
    if (roll < 18 && open.length < 4) {
      const n = 1 + rng.int(3);
      const keys = rng.shuffle([...KEYS]).slice(0, n);
      const muts = keys.map((key): Mut => {
        const r = rng.int(100);
        const op: Op = r < 60 ? 'put' : r < 85 ? 'delete' : 'lock';
        return { key, op, value: randomValue(rng) };
      });
      open.push({ startTs: ++clock, muts, prewritten: false });
    } else if (roll < 36 && open.some((t) => !t.prewritten)) {
      const txn = rng.pick(open.filter((t) => !t.prewritten));
      const expectFail = txn.muts.some((m) => {
        const l = model.locks.get(m.key);
        return (l !== undefined && l.startTs !== txn.startTs) || model.newestCommit(m.key) > txn.startTs;
      });
      const mt = new MvccTxn(txn.startTs);
      const r = s.reader();
      const props = { startTs: txn.startTs, primary: bytes(txn.muts[0]!.key), lockTtl: 1000n };
      let err: unknown;
      try {
        for (const m of txn.muts) {
          const mutation: Mutation = m.op === 'put' ? { op: 'put', key: k(m.key), value: bytes(m.value) } : { op: m.op, key: k(m.key) };
          mt.guard(() => prewrite(mt, r, props, mutation));
        }
      } catch (e) {
        err = e;
      }
      if (err === undefined) {
        if (expectFail) fail(`prewrite of txn ${txn.startTs} succeeded over a lock or newer commit`);
        await s.apply(mt);
        txn.prewritten = true;
        for (const m of txn.muts) model.locks.set(m.key, { startTs: txn.startTs, op: m.op });
      } else {
        if (!isKvError(err, 'KEY_IS_LOCKED') && !isKvError(err, 'WRITE_CONFLICT')) throw err;
        if (!expectFail) {
          // Only a newer rollback record of another txn can explain it.
          const d = err.details as { conflictCommitTs?: bigint; conflictStartTs?: bigint; key?: Uint8Array };
          const key = d.key === undefined ? '' : latin1(d.key);
          if (!(isKvError(err, 'WRITE_CONFLICT') && d.conflictStartTs === d.conflictCommitTs && model.rollbacks.get(key)?.has(d.conflictCommitTs!))) {
            fail(`prewrite of txn ${txn.startTs} failed unexpectedly: ${String(err)}`);
          }
        }
        stats.conflicts++;
        open.splice(open.indexOf(txn), 1);
        await rollbackTxn(txn);
      }
    } else if (roll < 52 && open.some((t) => t.prewritten)) {
      const txn = rng.pick(open.filter((t) => t.prewritten));
      open.splice(open.indexOf(txn), 1);
      const r = rng.int(10);
      if (r < 2) await rollbackTxn(txn);
      else await commitTxn(txn, r < 4);
    } else if (roll < 54) {
      // As TiDB guarantees, the safe point stays below every running txn's start ts.
      let limit = clock;
      for (const txn of open) if (txn.startTs - 1n < limit) limit = txn.startTs - 1n;
      if (limit < safePoint) continue;
      const sp = safePoint + BigInt(rng.int(Number(limit - safePoint) + 1));
      await s.run(0n, (mt, r) => {
        for (const key of r.scanWriteKeys()) gc(mt, r, key, sp);
      });
      safePoint = sp;
    } else if (roll < 80) {
      checkGet(rng.pick(KEYS), safePoint + BigInt(rng.int(Number(clock - safePoint) + 2)));
    } else {
      checkScan();
    }
  }
  // Finish every txn, then compare every key at every ts from the safe point on.
  for (const txn of open) {
    if (txn.prewritten) await commitTxn(txn, false);
  }
  for (const key of KEYS) for (let ts = safePoint; ts <= clock + 1n; ts++) checkGet(key, ts);
  return stats;
}

test('random transactions match a model of committed versions (gets, scans, GC)', async (t) => {
  const base = testSeed();
  t.log(`seed ${base}`);
  const totals = { gets: 0, scans: 0, commits: 0, conflicts: 0 };
  for (let i = 0; i < 10; i++) {
    const st = await runSequence((base + i) >>> 0, 400);
    for (const key of Object.keys(totals) as Array<keyof typeof totals>) totals[key] += st[key];
  }
  t.log(JSON.stringify(totals));
  // The sequences must exercise what they claim to.
  t.true(totals.commits > 20, `seed ${base}: only ${totals.commits} commits`);
  t.true(totals.conflicts > 0, `seed ${base}: no conflicts`);
  t.true(totals.scans > 50, `seed ${base}: only ${totals.scans} scans`);
});
