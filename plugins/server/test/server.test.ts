import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { isKvError } from '@flashkv/core';
import { FlashKvClient, SERVER } from '../src/index.js';
import { b, mustFailWith, mustReject, mustStartNode, s, TOKEN, type Node } from './helpers.js';

/** A raw unary call with our own bytes on the wire: what a broken or hostile client sends. */
function rawCall(endpoint: string, method: string, payload: Buffer, token: string | undefined): Promise<Buffer> {
  const c = new grpc.Client(endpoint, grpc.credentials.createInsecure());
  const md = new grpc.Metadata();
  if (token !== undefined) md.set('authorization', `Bearer ${token}`);
  return new Promise<Buffer>((resolve, reject) => {
    c.makeUnaryRequest(
      `/flashkv.v1.FlashKv/${method}`,
      (x: Buffer) => x,
      (x: Buffer) => x,
      payload,
      md,
      { deadline: Date.now() + 10_000 },
      (err, res) => {
        c.close();
        if (err) reject(err);
        else resolve(res!);
      },
    );
  });
}

async function withNode(t: { teardown(fn: () => Promise<void>): void }, opts?: Parameters<typeof mustStartNode>[0]): Promise<Node> {
  const node = await mustStartNode(opts);
  t.teardown(() => node.stop());
  return node;
}

test('binds port 0 on loopback and reports the port', async (t) => {
  const node = await withNode(t);
  t.regex(node.endpoint, /^127\.0\.0\.1:[1-9][0-9]*$/);
});

test('missing or wrong token: UNAUTHENTICATED and nothing else', async (t) => {
  const node = await withNode(t);
  const good = node.client();
  const tx = await good.begin();
  tx.put(b('secret'), b('v'));
  await tx.commit();
  for (const token of ['wrong', TOKEN + 'x', TOKEN.slice(0, -1), 'Bearer']) {
    const e = await mustFailWith(node.client(token).get(b('secret'), await good.getTs()), grpc.status.UNAUTHENTICATED);
    t.false(isKvError(e), 'no KvError detail leaks to an unauthenticated caller');
    t.false(e.message.includes('secret'));
  }
  // No authorization header at all, on a unary and on the stream.
  const missing = (await mustReject(rawCall(node.endpoint, 'Tso', Buffer.alloc(0), undefined))) as grpc.ServiceError;
  t.is(missing.code, grpc.status.UNAUTHENTICATED);
  await mustFailWith(node.client('nope').flashback({ version: 1n }), grpc.status.UNAUTHENTICATED);
  // Auth is checked before the request is decoded: garbage from a stranger is still UNAUTHENTICATED.
  const garbage = (await mustReject(rawCall(node.endpoint, 'Get', Buffer.from([0xff, 0xff, 0xff]), 'wrong'))) as grpc.ServiceError;
  t.is(garbage.code, grpc.status.UNAUTHENTICATED);
});

test('tso is strictly increasing, batches too', async (t) => {
  const c = (await withNode(t)).client();
  const a = await c.getTs();
  const batch = await c.getTsBatch(5);
  t.is(batch.length, 5);
  let prev = a;
  for (const ts of batch) {
    t.true(ts > prev);
    prev = ts;
  }
  await mustFailWith(c.getTsBatch(5000), grpc.status.INVALID_ARGUMENT, 'INVALID_ARGUMENT');
});

test('txn put/delete then get, batchGet and scan at a later ts', async (t) => {
  const c = (await withNode(t)).client();
  const tx = await c.begin();
  for (const k of ['a', 'b', 'c', 'd']) tx.put(b(k), b(`v-${k}`));
  t.is(s(await tx.get(b('a'))), 'v-a', 'a txn reads its own write');
  const c1 = await tx.commit();
  t.true(c1 > tx.startTs);
  const tx2 = await c.begin();
  tx2.delete(b('b'));
  tx2.put(b('c'), b('v-c2'));
  await tx2.commit();
  const ts = await c.getTs();
  t.is(s(await c.get(b('a'), ts)), 'v-a');
  t.is(await c.get(b('b'), ts), undefined);
  t.is(s(await c.get(b('b'), c1)), 'v-b', 'the old version is still readable at the first commit ts');
  const pairs = await c.batchGet([b('d'), b('b'), b('a'), b('zz')], ts);
  t.deepEqual(pairs.map((p) => [s(p.key), s(p.value)]), [['d', 'v-d'], ['a', 'v-a']]);
  const all = await c.scan({ ts });
  t.deepEqual(all.map((p) => s(p.key)), ['a', 'c', 'd']);
  t.deepEqual((await c.scan({ ts, start: b('b'), end: b('d') })).map((p) => s(p.value)), ['v-c2']);
  t.deepEqual((await c.scan({ ts, limit: 2, reverse: true })).map((p) => s(p.key)), ['d', 'c']);
  const keysOnly = await c.scan({ ts, keyOnly: true, limit: 1 });
  t.is(s(keysOnly[0]!.key), 'a');
  t.is(keysOnly[0]!.value.length, 0);
});

test('prewrite, KEY_IS_LOCKED, checkTxnStatus, commit, rollback, resolveLock', async (t) => {
  const c = (await withNode(t)).client();
  const startTs = await c.getTs();
  const pw = await c.prewrite({ mutations: [{ op: 'put', key: b('p'), value: b('1') }, { op: 'put', key: b('q'), value: b('2') }], primary: b('p'), startTs, lockTtl: 60_000n });
  t.is(pw.onePcCommitTs, 0n);
  const later = await c.getTs();
  const locked = await mustFailWith(c.get(b('q'), later), grpc.status.ABORTED, 'KEY_IS_LOCKED');
  t.true(isKvError(locked) && locked.details['lockTs'] === startTs.toString(), 'the lock ts travels in the details');
  const st = await c.checkTxnStatus({ primaryKey: b('p'), lockTs: startTs, callerStartTs: later, currentTs: later });
  t.is(st.kind, 'locked');
  t.is(st.lockTs, startTs);
  const commitTs = await c.getTs();
  await c.commit({ keys: [b('p')], startTs, commitTs });
  const st2 = await c.checkTxnStatus({ primaryKey: b('p'), lockTs: startTs, callerStartTs: commitTs, currentTs: commitTs });
  t.deepEqual(st2, { kind: 'committed', commitTs });
  // q is still locked (secondary); resolveLock commits it with the primary's commit ts.
  t.is(await c.resolveLock({ startTs, commitTs }), 1);
  const after = await c.getTs();
  t.is(s(await c.get(b('q'), after)), '2');

  const s2 = await c.getTs();
  await c.prewrite({ mutations: [{ op: 'put', key: b('r'), value: b('x') }], primary: b('r'), startTs: s2, lockTtl: 60_000n });
  await c.rollback({ keys: [b('r')], startTs: s2 });
  t.is(await c.get(b('r'), await c.getTs()), undefined);
  const late = await c.getTs();
  await mustFailWith(c.commit({ keys: [b('r')], startTs: s2, commitTs: late }), grpc.status.ABORTED, 'TXN_LOCK_NOT_FOUND');
});

test('regions lists the bootstrap region', async (t) => {
  const c = (await withNode(t)).client();
  const rs = await c.regions();
  t.true(rs.length >= 1);
  t.is(rs[0]!.startKey.length, 0);
  t.is(rs.at(-1)!.endKey.length, 0);
  t.false(rs[0]!.inFlashback);
  t.true(rs[0]!.peers.length >= 1);
});

test('malformed requests get INVALID_ARGUMENT with a message, and the server keeps serving', async (t) => {
  const node = await withNode(t);
  const c = node.client();
  const garbage = (await mustReject(rawCall(node.endpoint, 'Get', Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f]), TOKEN))) as grpc.ServiceError;
  t.is(garbage.code, grpc.status.INVALID_ARGUMENT);
  t.regex(garbage.details, /malformed request/);
  const ts = await c.getTs();
  const badPolicy = await mustFailWith(c.flashback({ version: ts, lockPolicy: 'bogus' as 'resolve' }), grpc.status.INVALID_ARGUMENT, 'INVALID_ARGUMENT');
  t.regex(badPolicy.message, /lockPolicy/);
  await mustFailWith(c.prewrite({ mutations: [{ op: 'bogus' as 'put', key: b('k') }], primary: b('k'), startTs: ts, lockTtl: 10n }), grpc.status.INVALID_ARGUMENT, 'INVALID_ARGUMENT');
  await mustFailWith(c.resolveLock({ startTs: ts, commitTs: ts - 1n }), grpc.status.INVALID_ARGUMENT, 'INVALID_ARGUMENT');
  await mustFailWith(c.flashback({ time: 'not a time' }), grpc.status.INVALID_ARGUMENT);
  t.true((await c.getTs()) > ts, 'still serving');
});

test('oversized input: KEY_TOO_LARGE for a key, RESOURCE_EXHAUSTED for a message over the limit', async (t) => {
  const node = await withNode(t, { maxMessageBytes: 64 * 1024 });
  const c = node.client();
  const ts = await c.getTs();
  await mustFailWith(c.get(new Uint8Array(9 * 1024).fill(1), ts), grpc.status.INVALID_ARGUMENT, 'KEY_TOO_LARGE');
  const tx = await c.begin();
  tx.put(b('big'), new Uint8Array(100 * 1024).fill(7));
  await mustFailWith(tx.commit(), grpc.status.RESOURCE_EXHAUSTED);
  t.is(await c.get(b('big'), await c.getTs()), undefined, 'nothing was written');
});

test('flashback streams progress and restores the old value; preview counts it first', async (t) => {
  const c = (await withNode(t)).client();
  const tx = await c.begin();
  tx.put(b('user:1'), b('old'));
  tx.put(b('user:2'), b('keep'));
  await tx.commit();
  const noted = await c.getTs();
  const tx2 = await c.begin();
  tx2.put(b('user:1'), b('new'));
  tx2.put(b('user:3'), b('added'));
  await tx2.commit();
  const preview = await c.flashbackPreview({ version: noted });
  t.is(preview.version, noted);
  t.is(preview.toUpdate, 1);
  t.is(preview.toDelete, 1);
  const phases: string[] = [];
  const last = await c.flashback({ version: noted }, (p) => phases.push(p.phase));
  t.is(last.phase, 'done');
  t.true(phases.length >= 1);
  t.true(last.keysRewritten >= 2);
  const now = await c.getTs();
  t.is(s(await c.get(b('user:1'), now)), 'old');
  t.is(s(await c.get(b('user:2'), now)), 'keep');
  t.is(await c.get(b('user:3'), now), undefined);
});

test('flashback without the FLASHBACK service is UNIMPLEMENTED', async (t) => {
  const c = (await withNode(t, { withFlashback: false })).client();
  const e1 = await mustFailWith(c.flashbackPreview({ version: await c.getTs() }), grpc.status.UNIMPLEMENTED, 'PLUGIN_MISSING');
  const e2 = await mustFailWith(c.flashback({ version: await c.getTs() }), grpc.status.UNIMPLEMENTED, 'PLUGIN_MISSING');
  t.regex(e1.message, /FLASHBACK/);
  t.regex(e2.message, /FLASHBACK/);
});

test('stopping the kernel shuts the server down: new calls fail UNAVAILABLE', async (t) => {
  const node = await mustStartNode();
  const c = new FlashKvClient({ endpoint: node.endpoint, token: TOKEN, deadlineMs: 5000 });
  t.true((await c.getTs()) > 0n);
  await node.stop();
  await mustFailWith(c.getTs(), grpc.status.UNAVAILABLE);
  c.close();
});

test('flashback to a wall time sent as a Date (ISO instant on the wire)', async (t) => {
  const c = (await withNode(t)).client();
  const tx = await c.begin();
  tx.put(b('t:1'), b('before'));
  const firstCommit = await tx.commit();
  // TSO physical time is ts >> 18 (ms); wait, boundedly, until the TSO is past the noted
  // instant's millisecond, so every later write is after it (no wall-clock sleep).
  const noted = new Date(Number(firstCommit >> 18n) + 1);
  let i = 0;
  while ((await c.getTs()) >> 18n <= BigInt(noted.getTime())) {
    if (++i > 10_000) throw new Error('TSO did not advance past the noted instant');
  }
  const tx2 = await c.begin();
  tx2.put(b('t:1'), b('after'));
  await tx2.commit();
  const last = await c.flashback({ time: noted });
  t.is(last.phase, 'done');
  t.is(s(await c.get(b('t:1'), await c.getTs())), 'before');
});

test('a client that disconnects mid-stream: the server keeps serving and the job still completes', async (t) => {
  const node = await withNode(t);
  const c = node.client();
  // More keys than one flashback batch (256), so the job has several finish steps.
  const keys = Array.from({ length: 600 }, (_, i) => b(`k:${String(i).padStart(4, '0')}`));
  const tx = await c.begin();
  for (const k of keys) tx.put(k, b('old'));
  await tx.commit();
  const noted = await c.getTs();
  const tx2 = await c.begin();
  for (const k of keys) tx2.put(k, b('new'));
  await tx2.commit();

  const abort = new AbortController();
  let seen = 0;
  const e = await mustFailWith(
    c.flashback({ version: noted }, () => {
      seen++;
      abort.abort();
    }, abort.signal),
    grpc.status.CANCELLED,
  );
  t.true(seen >= 1, e.message);
  // The job was not abandoned: wait (bounded) until it has restored the last key and released
  // every region. Reads meanwhile may meet FLASHBACK_IN_PROGRESS.
  for (let i = 0; ; i++) {
    if (i > 20_000) throw new Error('flashback never finished after the client left');
    try {
      const restored = s(await c.get(keys.at(-1)!, await c.getTs())) === 'old';
      if (restored && !(await c.regions()).some((r) => r.inFlashback)) break;
    } catch (err) {
      if (!isKvError(err, 'FLASHBACK_IN_PROGRESS')) throw err;
    }
  }
  const ts = await c.getTs();
  const pairs = await c.scan({ ts, limit: 1000 });
  t.is(pairs.length, 600);
  t.true(pairs.every((p) => s(p.value) === 'old'));
  // A second client on the same server works as before.
  t.true((await node.client().getTs()) > ts);
});

test('flashback lockPolicy travels: resolve commits a lock whose primary committed', async (t) => {
  const c = (await withNode(t)).client();
  // The version precedes the txn: a lock holds the min resolved ts back, so a version after it
  // would make the orchestrator wait for the lock to go.
  const version = await c.getTs();
  const startTs = await c.getTs();
  await c.prewrite({ mutations: [{ op: 'put', key: b('p'), value: b('1') }, { op: 'put', key: b('q'), value: b('2') }], primary: b('p'), startTs, lockTtl: 60_000n });
  const commitTs = await c.getTs();
  await c.commit({ keys: [b('p')], startTs, commitTs });
  const last = await c.flashback({ version, lockPolicy: 'resolve' });
  t.is(last.locksCommitted, 1, 'the secondary lock was committed with its primary, not rolled back');
  t.is(last.locksRolledBack, 0);
  const now = await c.getTs();
  t.is(await c.get(b('q'), now), undefined, 'then flashed back to before the txn');
  t.is(s(await c.get(b('q'), commitTs)), '2', 'the txn is visible at its commit ts: the lock was committed');
});

test('shutdown ends an open flashback stream with UNAVAILABLE instead of waiting for the job', async (t) => {
  const node = await withNode(t);
  const c = node.client();
  // A pending lock holds the min resolved ts back, so a flashback to a later version waits: a
  // job that is still running when the server shuts down.
  const startTs = await c.getTs();
  await c.prewrite({ mutations: [{ op: 'put', key: b('held'), value: b('x') }], primary: b('held'), startTs, lockTtl: 60_000n });
  const version = await c.getTs();
  let firstProgress!: () => void;
  const sawProgress = new Promise<void>((r) => (firstProgress = r));
  const watching = c.flashback({ version }, () => firstProgress());
  await sawProgress;
  await node.kernel.resolve(SERVER).shutdown(10_000);
  const e = await mustFailWith(watching, grpc.status.UNAVAILABLE);
  t.regex(e.message, /server shutting down; flashback job \S+ continues on the node/);
  // Let the job finish so the kernel can stop: the lock goes, the orchestrator proceeds.
  await node.kernel.storage.rollback({ keys: [b('held')], startTs });
});
