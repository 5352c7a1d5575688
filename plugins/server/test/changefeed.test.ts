import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { isKvError } from '@flashkv/core';
import type { CdcEvent, CommitEvent } from '@flashkv/cdc';
import { SERVER } from '../src/index.js';
import { b, mustFailWith, mustStartNode, s, type Node } from './helpers.js';

async function withNode(t: { teardown(fn: () => Promise<void>): void }, opts?: Parameters<typeof mustStartNode>[0]): Promise<Node> {
  const node = await mustStartNode(opts);
  t.teardown(() => node.stop());
  return node;
}

/** The first event of a feed (or its failure): what a test needs to see a refused stream. */
async function firstEvent(feed: AsyncGenerator<CdcEvent, void, undefined>): Promise<CdcEvent | undefined> {
  try {
    const r = await feed.next();
    return r.done === true ? undefined : r.value;
  } finally {
    await feed.return();
  }
}

/**
 * Reads a feed until `stop(event)` is true (inclusive), or fails after 15 s (an abort, so the
 * loop is bounded whatever the server does).
 */
async function mustCollect(feed: (signal: AbortSignal) => AsyncGenerator<CdcEvent, void, undefined>, stop: (e: CdcEvent) => boolean): Promise<CdcEvent[]> {
  const signal = AbortSignal.timeout(15_000);
  const out: CdcEvent[] = [];
  for await (const e of feed(signal)) {
    out.push(e);
    if (stop(e)) return out;
  }
  throw new Error(`feed ended before the expected event (aborted: ${signal.aborted}); got ${out.length} events`);
}

/** Polls `cond` every 10 ms, at most 500 times. */
async function mustEventually(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`never happened: ${what}`);
}

const rows = (events: CdcEvent[]) => events.filter((e): e is CommitEvent => e.type === 'commit' || e.type === 'committed');

test('changefeed: wrong token is UNAUTHENTICATED, the right one streams', async (t) => {
  const node = await withNode(t, { cdc: { tickMs: 50 } });
  const good = node.client();
  const tx = await good.begin();
  tx.put(b('secret'), b('v'));
  await tx.commit();
  for (const token of ['wrong', 'test-token-7f3aX']) {
    const e = await mustFailWith(firstEvent(node.client(token).changefeed({ startTs: 0n })), grpc.status.UNAUTHENTICATED);
    t.false(isKvError(e), 'no KvError detail leaks to an unauthenticated caller');
    t.false(e.message.includes('secret'));
  }
  const first = await firstEvent(good.changefeed({ startTs: 0n }));
  t.like(first, { type: 'committed', op: 'put' });
  t.is(s((first as CommitEvent).key), 'secret');
  t.is(s((first as CommitEvent).value), 'v');
  await mustEventually(() => node.kernel.resolve(SERVER).openFeeds === 0, 'feed released after return()');
});

test('changefeed sees committed puts, old values, a flashback as committed rows, and live 2PC rows', async (t) => {
  const node = await withNode(t, { cdc: { tickMs: 50 } });
  const c = node.client();
  const tx = await c.begin();
  tx.put(b('user:1'), b('old'));
  tx.put(b('user:2'), b('keep'));
  const c1 = await tx.commit();
  const noted = await c.getTs();
  const tx2 = await c.begin();
  tx2.put(b('user:1'), b('new'));
  tx2.put(b('user:3'), b('added'));
  const c2 = await tx2.commit();
  const one = await c.begin();
  one.put(b('solo'), b('1pc'));
  const c3 = await one.commit();
  const fb = await c.flashback({ version: noted });
  t.is(fb.phase, 'done');

  // From noted: the scan delivers tx2, the 1PC put and the flashback; the global resolved ts
  // passing the flashback's commit ts proves nothing at or below it is still to come.
  const events = await mustCollect((signal) => c.changefeed({ startTs: noted, withOldValue: true }, signal), (e) => e.type === 'globalResolvedTs' && e.ts >= fb.commitTs);
  const got = rows(events).map((e) => ({ key: s(e.key), op: e.op, value: s(e.value), commitTs: e.commitTs, old: s(e.oldValue) }));
  t.false(got.some((r) => r.commitTs <= noted), 'nothing at or below startTs');
  t.deepEqual(
    got.filter((r) => r.commitTs === c2),
    [
      { key: 'user:1', op: 'put', value: 'new', commitTs: c2, old: 'old' },
      { key: 'user:3', op: 'put', value: 'added', commitTs: c2, old: undefined },
    ],
  );
  t.deepEqual(got.filter((r) => r.commitTs === c3), [{ key: 'solo', op: 'put', value: '1pc', commitTs: c3, old: undefined }]);
  const flashed = got.filter((r) => r.commitTs === fb.commitTs);
  t.deepEqual(flashed.find((r) => r.key === 'user:1'), { key: 'user:1', op: 'put', value: 'old', commitTs: fb.commitTs, old: 'new' });
  t.deepEqual(flashed.find((r) => r.key === 'user:3'), { key: 'user:3', op: 'delete', value: undefined, commitTs: fb.commitTs, old: 'added' });
  t.like(flashed.find((r) => r.key === 'solo'), { op: 'delete', commitTs: fb.commitTs });
  t.true(c1 < noted);

  // A live feed: rows of a 2PC txn (RemoteTxn would take 1PC) arrive as prewrite, then commit.
  const live = c.changefeed({ startTs: await c.getTs() });
  const startTs = await c.getTs();
  await c.prewrite({ mutations: [{ op: 'put', key: b('live:a'), value: b('A') }, { op: 'put', key: b('live:b'), value: b('B') }], primary: b('live:a'), startTs, lockTtl: 3000n });
  const c4 = await c.getTs();
  await c.commit({ keys: [b('live:a'), b('live:b')], startTs, commitTs: c4 });
  const seen: CdcEvent[] = [];
  for await (const e of live) {
    seen.push(e);
    if (rows(seen).length === 2 || seen.length > 10_000) break;
  }
  t.deepEqual(rows(seen).map((e) => [e.type, s(e.key), s(e.value), e.commitTs]), [
    ['commit', 'live:a', 'A', c4],
    ['commit', 'live:b', 'B', c4],
  ]);
  t.is(seen.filter((e) => e.type === 'prewrite').length, 2);
});

test('a client that cancels mid-stream unsubscribes the feed; the server keeps serving', async (t) => {
  const node = await withNode(t, { cdc: { tickMs: 50 } });
  const srv = node.kernel.resolve(SERVER);
  const c = node.client();
  const tx = await c.begin();
  for (let i = 0; i < 50; i++) tx.put(b(`k${String(i).padStart(2, '0')}`), b('v'));
  await tx.commit();
  const abort = new AbortController();
  const got: CdcEvent[] = [];
  for await (const e of c.changefeed({ startTs: 0n }, abort.signal)) {
    got.push(e);
    t.is(srv.openFeeds, 1);
    if (got.length === 3) abort.abort();
  }
  t.is(got.length, 3, 'the iteration ends at the abort, without an error');
  await mustEventually(() => srv.openFeeds === 0, 'the server released the cancelled feed');
  // Breaking out of a for-await cancels too.
  for await (const e of c.changefeed({ startTs: 0n })) {
    t.is(e.type, 'committed');
    break;
  }
  await mustEventually(() => srv.openFeeds === 0, 'the server released the feed left by break');
  t.true((await c.getTs()) > 0n);
  t.is(rows(await mustCollect((signal) => c.changefeed({ startTs: 0n, startKey: b('k10'), endKey: b('k12') }, signal), (e) => e.type === 'globalResolvedTs')).length, 2, 'a key range feeds only its rows');
});

test('changefeed without the CDC service is UNIMPLEMENTED; bad input is INVALID_ARGUMENT', async (t) => {
  const c = (await withNode(t)).client();
  const e = await mustFailWith(firstEvent(c.changefeed({ startTs: 0n })), grpc.status.UNIMPLEMENTED, 'PLUGIN_MISSING');
  t.regex(e.message, /CDC/);
  const c2 = (await withNode(t, { cdc: { tickMs: 50 } })).client();
  await mustFailWith(firstEvent(c2.changefeed({ startTs: 0n, startKey: b('z'), endKey: b('a') })), grpc.status.INVALID_ARGUMENT, 'INVALID_ARGUMENT');
  t.throws(() => c2.changefeed({ startTs: 5 as unknown as bigint }), { instanceOf: TypeError });
});

test('a feed that falls behind ends with CDC_LAGGING (UNAVAILABLE)', async (t) => {
  // A scheduler that never runs: the CDC queue fills, as behind a subscriber that stalls.
  const node = await withNode(t, { cdc: { tickMs: 50, schedule: () => undefined, maxPendingEvents: 10 } });
  const c = node.client();
  const feed = c.changefeed({ startTs: await c.getTs() });
  const first = feed.next();
  await mustEventually(() => node.kernel.resolve(SERVER).openFeeds === 1, 'feed open');
  for (let i = 0; i < 10; i++) {
    const tx = await c.begin();
    tx.put(b(`a${i}`), b('v'));
    tx.put(b(`b${i}`), b('v'));
    await tx.commit();
  }
  const e = await mustFailWith(first, grpc.status.UNAVAILABLE, 'CDC_LAGGING');
  t.regex(e.message, /behind/);
  t.is(node.kernel.resolve(SERVER).openFeeds, 0);
});

test('server shutdown ends an open feed with UNAVAILABLE', async (t) => {
  const node = await withNode(t, { cdc: { tickMs: 50 } });
  const c = node.client();
  const feed = c.changefeed({ startTs: await c.getTs() });
  const first = await feed.next();
  t.false(first.done, 'a resolved-ts event arrived: the feed is live');
  const rest = (async () => {
    for (;;) if ((await feed.next()).done === true) return;
  })();
  await node.kernel.resolve(SERVER).shutdown(10_000);
  const e = await mustFailWith(rest, grpc.status.UNAVAILABLE);
  t.regex(e.message, /server shutting down; reopen the changefeed/);
  t.is(node.kernel.resolve(SERVER).openFeeds, 0);
});
