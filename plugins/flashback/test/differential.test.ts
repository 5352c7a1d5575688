/**
 * Seeded differential tests (STYLE.md habit 7). (1) Random MVCC histories on engine-memory over
 * several regions, flashback of a random range to a random version: afterwards every key in the
 * range reads as a plain snapshot read at the version did (locks ignored: flashback rolls them
 * back), every key outside it as it did just before, and no lock is left. (2) The flat batch
 * kernel against core's Write encoder on random batches. `SEED=n` replays a failure.
 */
import test from 'ava';
import { codec, createJsHotPath, MvccReader, type HotPath, type StorageEngine } from '@flashkv/core';
import { createWasmHotPath } from '@flashkv/asm';
import { bytes, latin1, Rng, testSeed } from '@flashkv/core/testing';
import {
  flashbackBatch,
  flashbackBatchBound,
  newFlashbackBatchInput,
  newFlashbackBatchOutput,
  OLD_ABSENT,
  OLD_PUT,
  OUT_WRITE_CF,
} from '@flashkv/flashback';
import { enc, mustAcquirePessimisticLock, mustCommit, mustPrewriteDelete, mustPrewriteLock, mustPrewritePut, mustRollback, mustSplit, setup, type Env } from './flashback-must.js';

function readAllAt(engine: StorageEngine, keys: readonly string[], ts: bigint): Map<string, string | undefined> {
  const snap = engine.snapshot();
  try {
    const r = new MvccReader(snap);
    return new Map(keys.map((k) => [k, (() => {
      const v = r.getValueAt(enc(k), ts);
      return v === undefined ? undefined : latin1(v);
    })()]));
  } finally {
    snap.release();
  }
}

async function randomHistory(env: Env, rng: Rng, keys: readonly string[], ops: number): Promise<{ commits: bigint[]; next: bigint }> {
  let ts = 10n;
  const commits: bigint[] = [];
  const value = () => (rng.chance(0.15) ? 'L'.repeat(256 + rng.int(200)) : `v${rng.int(1000)}`);
  for (let i = 0; i < ops; i++) {
    const k = keys[rng.int(keys.length)]!;
    const startTs = (ts += 2n);
    const commitTs = startTs + 1n;
    const kind = rng.int(10);
    try {
      if (kind < 5) {
        await mustPrewritePut(env, k, value(), k, startTs);
        await mustCommit(env, k, startTs, commitTs);
        commits.push(commitTs);
      } else if (kind < 7) {
        await mustPrewriteDelete(env, k, k, startTs);
        await mustCommit(env, k, startTs, commitTs);
        commits.push(commitTs);
      } else if (kind === 7) {
        await mustPrewriteLock(env, k, k, startTs);
        await mustCommit(env, k, startTs, commitTs);
      } else {
        await mustPrewritePut(env, k, value(), k, startTs);
        await mustRollback(env, k, startTs);
      }
    } catch (e) {
      // A key still locked by a leftover lock refuses new prewrites; that is part of the history.
      if (!(e instanceof Error && 'code' in e && (e as { code: string }).code === 'KEY_IS_LOCKED')) throw e;
    }
  }
  // Leftover locks: optimistic and pessimistic, older and newer than any version.
  for (let i = 0; i < 4; i++) {
    const k = keys[rng.int(keys.length)]!;
    const startTs = (ts += 2n);
    try {
      if (rng.chance(0.5)) await mustPrewritePut(env, k, value(), keys[0]!, startTs);
      else await mustAcquirePessimisticLock(env, k, k, startTs, startTs);
    } catch {
      // already locked
    }
  }
  return { commits, next: ts + 10n };
}

test('random histories: flashback to a random version equals a snapshot read at that version, inside the range only', async (t) => {
  const seed = testSeed();
  const rng = new Rng(seed);
  t.log(`SEED=${seed}`);
  // Rounds rotate through the plugin's own TS step and both HotPath implementations, so the
  // HotPath route is checked against snapshot reads end to end, not only kernel against kernel.
  const hotPaths: readonly (readonly [string, HotPath | undefined])[] = [['none', undefined], ['js', createJsHotPath()], ['wasm', createWasmHotPath()]];
  for (let round = 0; round < 12; round++) {
    const [hotName, hotPath] = hotPaths[round % hotPaths.length]!;
    const env = await setup({ engine: 'memory', ...(hotPath ? { hotPath } : {}) });
    const keys = Array.from({ length: 30 + rng.int(40) }, (_, i) => `k${String(i * 7 + rng.int(7)).padStart(4, '0')}`);
    for (let i = 0; i < 3; i++) await mustSplit(env, keys[rng.int(keys.length)]!).catch(() => undefined);
    const { commits, next } = await randomHistory(env, rng, keys, 150 + rng.int(150));
    const version = commits.length === 0 ? 5n : commits[rng.int(commits.length)]! - BigInt(rng.int(2));
    const sorted = [...keys].sort();
    const lo = rng.chance(0.5) ? sorted[rng.int(sorted.length)]! : undefined;
    const hi = rng.chance(0.5) ? sorted[rng.int(sorted.length)]! : undefined;
    const range = { ...(lo !== undefined ? { start: lo } : {}), ...(hi !== undefined && (lo === undefined || hi > lo) ? { end: hi } : {}) };
    const inRange = (k: string) => (range.start === undefined || k >= range.start) && (range.end === undefined || k < range.end);
    const expectedInside = readAllAt(env.engine, keys, version);
    const startTs = next;
    const commitTs = next + 1n;
    const expectedOutside = readAllAt(env.engine, keys, commitTs + 5n);
    const r = { ...(range.start ? { startKey: bytes(range.start) } : {}), ...(range.end ? { endKey: bytes(range.end) } : {}) };
    await env.storage.prepareFlashbackToVersion({ ...r, version, startTs });
    await env.storage.flashbackToVersion({ ...r, version, startTs, commitTs });
    const got = readAllAt(env.engine, keys, commitTs + 5n);
    for (const k of keys) {
      const want = inRange(k) ? expectedInside.get(k) : expectedOutside.get(k);
      t.is(got.get(k), want, `SEED=${seed} round ${round} (hot path ${hotName}) key ${k} version ${version} range ${JSON.stringify(range)}`);
    }
    const snap = env.engine.snapshot();
    const locks = new MvccReader(snap).scanLocks().locks.filter((l) => inRange(latin1(codec.decodeBytes(l.key).raw)));
    snap.release();
    t.is(locks.length, 0, `SEED=${seed} round ${round}: locks left in range`);
    t.is(env.placement.regions().filter((x) => x.flashback.inFlashback).length, 0);
  }
});

/**
 * One flashback of the whole keyspace checked against snapshot reads, as above, on one region.
 * The shapes target the one-pass read phase: a few keys with long histories (dozens of records
 * each, so the walk switches from stepping to seeking inside a key, both before and after the
 * version) and many keys (several 256-key batches, so the scan resumes at the 257th key).
 */
async function checkWholeRange(t: import('ava').ExecutionContext, seed: number, rng: Rng, keyCount: number, ops: number, early: boolean, what: string): Promise<number> {
  const env = await setup({ engine: 'memory', hotPath: createWasmHotPath() });
  const keys = Array.from({ length: keyCount }, (_, i) => `k${String(i * 3 + rng.int(3)).padStart(5, '0')}`);
  const { commits, next } = await randomHistory(env, rng, keys, ops);
  // `early`: a version in the first third of the history, so most keys changed after it.
  const pick = early ? rng.int(Math.max(1, Math.floor(commits.length / 3))) : rng.int(commits.length);
  const version = commits.length === 0 ? 5n : commits[pick]! - BigInt(rng.int(2));
  const expected = readAllAt(env.engine, keys, version);
  const before = readAllAt(env.engine, keys, next);
  await env.storage.prepareFlashbackToVersion({ version, startTs: next });
  await env.storage.flashbackToVersion({ version, startTs: next, commitTs: next + 1n });
  // Keys whose value the flashback had to change: a lower bound of the keys it rewrote.
  let changed = 0;
  for (const k of keys) if (before.get(k) !== expected.get(k)) changed++;
  const got = readAllAt(env.engine, keys, next + 5n);
  let mismatches = 0;
  for (const k of keys) if (got.get(k) !== expected.get(k)) mismatches++;
  t.is(mismatches, 0, `SEED=${seed} ${what}: ${mismatches} of ${keys.length} keys differ from the snapshot read at ${version}`);
  return changed;
}

test('random histories, one-pass read phase shapes: long histories per key, and several 256-key batches', async (t) => {
  const seed = testSeed();
  const rng = new Rng(seed);
  t.log(`SEED=${seed}`);
  for (let round = 0; round < 3; round++) await checkWholeRange(t, seed, rng, 3 + rng.int(5), 200 + rng.int(100), false, `long histories round ${round}`);
  const changed = await checkWholeRange(t, seed, rng, 600 + rng.int(100), 1500, true, 'many keys');
  t.true(changed > 256, `SEED=${seed}: only ${changed} keys changed, the scan never resumed`);
});

test('batch kernel: records equal core\'s encodeWrite of Put(old)/Delete at S, long values go to CF_DEFAULT at S, and the 32 KiB cut is a prefix', (t) => {
  const seed = testSeed();
  const rng = new Rng(seed);
  t.log(`SEED=${seed}`);
  for (let round = 0; round < 200; round++) {
    const input = newFlashbackBatchInput();
    const n = 1 + rng.int(256);
    const rows: Array<{ key: Uint8Array; old: Uint8Array | undefined }> = [];
    let kAt = 0;
    let vAt = 0;
    for (let i = 0; i < n; i++) {
      const key = codec.encodeBytes(rng.bytes(1 + rng.int(40)));
      const old = rng.chance(0.3) ? undefined : rng.bytes(rng.chance(0.1) ? 256 + rng.int(2000) : rng.int(256));
      rows.push({ key, old });
      if (input.keys.length < kAt + key.length) { const b = new Uint8Array((kAt + key.length) * 2); b.set(input.keys); input.keys = b; }
      input.keys.set(key, kAt);
      kAt += key.length;
      input.keyEnd[i] = kAt;
      input.oldKind[i] = old === undefined ? OLD_ABSENT : OLD_PUT;
      if (old !== undefined) {
        if (input.values.length < vAt + old.length) { const b = new Uint8Array((vAt + old.length) * 2); b.set(input.values); input.values = b; }
        input.values.set(old, vAt);
        vAt += old.length;
      }
      input.valueEnd[i] = vAt;
    }
    input.count = n;
    const startTs = BigInt(rng.int(1 << 30)) * 7919n + 1n;
    const commitTs = startTs + 1n + BigInt(rng.int(1000));
    const out = newFlashbackBatchOutput(flashbackBatchBound(input), n);
    const taken = flashbackBatch(input, startTs, commitTs, out);
    t.true(taken >= 1 && taken <= n);
    // The expected ops, built with core's encoders.
    const want: string[] = [];
    let size = 0;
    for (let i = 0; i < taken; i++) {
      const { key, old } = rows[i]!;
      const long = old !== undefined && old.length > 255;
      const w = old === undefined ? codec.newWrite('Delete', startTs) : codec.newWrite('Put', startTs, long ? undefined : old);
      const wk = codec.dataKey(codec.appendTs(key, commitTs));
      const wv = codec.encodeWrite(w);
      want.push(`write:${codec.toHex(wk)}=${codec.toHex(wv)}`);
      size += wk.length + wv.length;
      if (long) {
        const dk = codec.dataKey(codec.appendTs(key, startTs));
        want.push(`default:${codec.toHex(dk)}=${codec.toHex(old)}`);
        size += dk.length + old.length;
      }
    }
    const got: string[] = [];
    for (let j = 0; j < out.opCount; j++) {
      const cf = out.cf[j] === OUT_WRITE_CF ? 'write' : 'default';
      got.push(`${cf}:${codec.toHex(out.buf.subarray(out.keyStart[j]!, out.keyEnd[j]!))}=${codec.toHex(out.buf.subarray(out.valueStart[j]!, out.valueEnd[j]!))}`);
    }
    t.deepEqual(got, want, `SEED=${seed} round ${round}`);
    t.is(out.writeSize, size);
    t.true(size <= 32 * 1024 || taken === 1, `SEED=${seed} round ${round}: ${size} bytes in ${taken} keys`);
    if (taken < n) {
      // The next key would not have fitted.
      const next = rows[taken]!;
      const nk = 1 + next.key.length + 8;
      const long = next.old !== undefined && next.old.length > 255;
      const rec = codec.encodeWrite(next.old === undefined ? codec.newWrite('Delete', startTs) : codec.newWrite('Put', startTs, long ? undefined : next.old)).length;
      t.true(size + nk + rec + (long ? nk + next.old!.length : 0) > 32 * 1024, `SEED=${seed} round ${round}: cut too early`);
    }
  }
});
