/**
 * The batched reverse scan (scanBackwardEntries, through mvccScanEntries) against the per-key
 * reverse scan (scanBackward, used when the HotPath has no mvccScanEntries), on seeded random
 * histories written straight into the CFs: short and default-CF Puts, Deletes, Lock and Rollback
 * records, gc fences, keys with more versions than a batch holds, plain and shared locks. Every
 * scan must give the same pairs, or the same error (code and lock). `SEED=n` replays a failure.
 */
import test from 'ava';
import { KvError, MvccReader, WriteBatch, codec, createJsHotPath, lockCfKey, tsCfKey, type HotPath, type ScanOptions } from '@flashkv/core';
import { ReferenceEngine, Rng, bytes, latin1, testSeed } from '@flashkv/core/testing';

/** The TS reference without mvccScanEntries: the scanner then takes the per-key reverse path. */
function perKeyHotPath(): HotPath {
  const inner = createJsHotPath();
  return {
    kind: 'js',
    encodeKeys: inner.encodeKeys.bind(inner),
    flashbackBatch: inner.flashbackBatch.bind(inner),
    mvccScanBatch: inner.mvccScanBatch.bind(inner),
  };
}

function randomKey(rng: Rng): string {
  // A small alphabet and lengths around the 8-byte encoding group make shared prefixes common.
  const n = 1 + rng.int(rng.chance(0.3) ? 20 : 9);
  let s = '';
  for (let i = 0; i < n; i++) s += 'abcd'[rng.int(4)];
  return s;
}

function randomLock(rng: Rng, startTs: bigint): codec.Lock {
  const types = ['Put', 'Delete', 'Lock', 'Pessimistic'] as const;
  return codec.newLock({ lockType: types[rng.int(4)]!, primary: bytes('p'), startTs, ttl: 3000n, ...(rng.chance(0.2) ? { minCommitTs: startTs + BigInt(rng.int(40)) } : {}) });
}

/** Writes a random history; returns its keys (sorted) and the largest ts used. */
async function buildHistory(rng: Rng, engine: ReferenceEngine): Promise<{ keys: string[]; maxTs: number }> {
  const keys = new Set<string>();
  const nKeys = 20 + rng.int(280);
  while (keys.size < nKeys) keys.add(randomKey(rng));
  let maxTs = 0;
  const b = new WriteBatch();
  for (const key of keys) {
    const enc = codec.encodeBytes(bytes(key));
    const heavy = rng.chance(0.02);
    const versions = heavy ? 250 + rng.int(350) : rng.int(6);
    let ts = 1 + rng.int(20);
    for (let v = 0; v < versions; v++) {
      const startTs = BigInt(ts);
      const commitTs = BigInt(ts + 1 + rng.int(3));
      ts = Number(commitTs) + 1 + rng.int(heavy ? 2 : 30);
      const roll = rng.float();
      let w: codec.Write;
      if (roll < 0.5) w = codec.newWrite('Put', startTs, bytes(`${key}@${commitTs}`));
      else if (roll < 0.56) {
        w = codec.newWrite('Put', startTs);
        b.put('default', tsCfKey(enc, startTs), bytes(`long:${key}@${commitTs}:`.padEnd(300, 'x')));
      } else if (roll < 0.72) w = codec.newWrite('Delete', startTs);
      else if (roll < 0.86) w = codec.newWrite('Lock', startTs);
      else w = codec.newRollback(startTs, rng.chance(0.5));
      if (rng.chance(0.05) && w.writeType !== 'Rollback') w = { ...w, gcFence: BigInt(rng.int(ts + 10)) };
      // A Rollback is keyed at its own start ts, as the actions write it.
      b.put('write', tsCfKey(enc, w.writeType === 'Rollback' ? startTs : commitTs), codec.encodeWrite(w));
    }
    if (ts > maxTs) maxTs = ts;
  }
  // Locks on some keys with writes and on some lock-only keys.
  const lockKeys = [...keys].filter(() => rng.chance(0.04));
  for (let i = rng.int(4); i > 0; i--) lockKeys.push(randomKey(rng) + 'L');
  for (const key of lockKeys) {
    const ts = BigInt(1 + rng.int(maxTs + 5));
    let rec: Uint8Array;
    if (rng.chance(0.25)) {
      const locks = new Map<bigint, codec.Lock>();
      for (let j = 1 + rng.int(3); j > 0; j--) {
        const st = ts + BigInt(j * 3);
        locks.set(st, codec.newLock({ lockType: rng.chance(0.5) ? 'Lock' : 'Pessimistic', primary: bytes('p'), startTs: st, ttl: 10n }));
      }
      rec = codec.encodeSharedLocks({ shrinkOnly: false, locks });
    } else {
      rec = codec.encodeLock(randomLock(rng, ts));
    }
    b.put('lock', lockCfKey(codec.encodeBytes(bytes(key))), rec);
  }
  await engine.write(b);
  return { keys: [...keys].sort(), maxTs };
}

type Outcome = { pairs: string[][] } | { code: string; lockTs: bigint | undefined };

function outcome(run: () => Array<{ key: Uint8Array; value: Uint8Array }>): Outcome {
  try {
    return { pairs: run().map((kv) => [latin1(kv.key), latin1(kv.value)]) };
  } catch (e) {
    if (!(e instanceof KvError)) throw e;
    return { code: e.code, lockTs: (e.details as { lockTs?: bigint } | undefined)?.lockTs };
  }
}

test('batched reverse scans match the per-key reverse path on seeded random histories', async (t) => {
  const seed = testSeed();
  t.log(`seed ${seed} (replay with SEED=${seed})`);
  const rng = new Rng(seed);
  const batched = createJsHotPath();
  const perKey = perKeyHotPath();
  let scans = 0;
  let nonEmpty = 0;
  let errors = 0;
  for (let h = 0; h < 6; h++) {
    const engine = new ReferenceEngine();
    const { keys, maxTs } = await buildHistory(rng, engine);
    const snap = engine.snapshot();
    const reader = new MvccReader(snap);
    for (let q = 0; q < 120; q++) {
      const pick = () => (rng.chance(0.7) ? keys[rng.int(keys.length)]! : randomKey(rng));
      let start = rng.chance(0.3) ? undefined : pick();
      let end = rng.chance(0.3) ? undefined : pick();
      if (start !== undefined && end !== undefined && start > end) [start, end] = [end, start];
      const opts: ScanOptions = {
        ts: BigInt(rng.int(maxTs + 10)),
        reverse: true,
        ...(start !== undefined ? { start: bytes(start) } : {}),
        ...(end !== undefined ? { end: bytes(end) } : {}),
        ...(rng.chance(0.5) ? { limit: rng.chance(0.5) ? 1 + rng.int(5) : 1 + rng.int(400) } : {}),
        ...(rng.chance(0.3) ? { keyOnly: true } : {}),
        ...(rng.chance(0.1) ? { isolation: 'RC' as const } : {}),
        ...(rng.chance(0.1) ? { bypassLocks: [BigInt(rng.int(maxTs))] } : {}),
      };
      const want = outcome(() => reader.scan(opts, perKey));
      const got = outcome(() => reader.scan(opts, batched));
      const page = outcome(() => reader.scanPage(opts, batched).pairs());
      const ctx = `seed ${seed}, history ${h}, scan ${q}: ${JSON.stringify({ ...opts, start, end, ts: String(opts.ts), bypassLocks: opts.bypassLocks?.map(String) })}`;
      t.deepEqual(got, want, ctx);
      t.deepEqual(page, want, ctx);
      if ('pairs' in want) {
        if (want.pairs.length > 0) nonEmpty++;
        if (opts.limit === undefined) {
          // Unlimited and successful: the forward scan's pairs, reversed (when it succeeds too).
          const fwd = outcome(() => reader.scan({ ...opts, reverse: false }, batched));
          if ('pairs' in fwd) t.deepEqual([...fwd.pairs].reverse(), want.pairs, ctx);
        }
      } else errors++;
      scans++;
    }
    snap.release();
  }
  t.log(`${scans} scans, ${nonEmpty} non-empty, ${errors} KEY_IS_LOCKED`);
  t.true(nonEmpty > scans / 3, `most scans must return pairs (seed ${seed})`);
  t.true(errors > 0, `some scans must meet a blocking lock (seed ${seed})`);
});
