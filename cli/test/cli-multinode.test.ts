import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FlashKvClient } from '@flashkv/server';
import { freePorts, mustRun, mustServe, TOKEN, type Served } from './helpers.js';

const te = new TextEncoder();
const td = new TextDecoder();

test('three `flashkv serve` processes as one raft cluster: writes through any node, kill -9 of the leader, the client carries on and every acknowledged write is there', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'flashkv-cli-nodes-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const ports = await freePorts(6);
  const raft = (i: number) => `127.0.0.1:${ports[i - 1]}`;
  const grpcAt = (i: number) => `127.0.0.1:${ports[i + 2]}`;
  const peers = [1, 2, 3].map((i) => `${i}=${raft(i)}`).join(',');
  const grpcPeers = [1, 2, 3].map((i) => `${i}=${grpcAt(i)}`).join(',');
  const nodes = new Map<number, Served>();
  const started = await Promise.all(
    [1, 2, 3].map((i) => mustServe(['--store-id', String(i), '--raft-listen', raft(i), '--peers', peers, '--grpc-peers', grpcPeers, '--data', join(dir, `n${i}`), '--listen', grpcAt(i)])),
  );
  started.forEach((s, i) => nodes.set(i + 1, s));
  t.teardown(async () => {
    for (const s of nodes.values()) await s.stop('SIGKILL');
  });
  for (const [i, s] of nodes) {
    t.is(s.endpoint, grpcAt(i));
    t.regex(s.output(), new RegExp(`raft store ${i} of 3, raft on ${raft(i).replace(/\./g, '\\.')}`));
  }

  // A CLI write through each node: two of them are followers and pass the client on to the leader.
  for (const i of [1, 2, 3]) {
    const put = await mustRun(['put', `cli:${i}`, `v${i}`], { FLASHKV_ENDPOINT: grpcAt(i), FLASHKV_TOKEN: TOKEN });
    t.is(put.code, 0, put.stderr);
  }
  const regions = await mustRun(['regions', '--json'], { FLASHKV_ENDPOINT: grpcAt(1), FLASHKV_TOKEN: TOKEN });
  const [region] = JSON.parse(regions.stdout) as Array<{ leader: string; peers: string }>;
  t.true([1, 2, 3].some((i) => region!.leader === grpcAt(i)), `leader address ${region!.leader}`);
  for (const i of [1, 2, 3]) t.true(region!.peers.includes(`@store${i}(${grpcAt(i)})`));

  const c = new FlashKvClient({ endpoint: [1, 2, 3].map(grpcAt).join(','), token: TOKEN, deadlineMs: 5000, maxRegionAttempts: 80 });
  t.teardown(() => c.close());
  const acked = new Map<string, string>();
  const write = async (n: number) => {
    const tx = await c.begin();
    tx.put(te.encode(`k:${n}`), te.encode(`v:${n}`));
    tx.put(te.encode(`m:${n}`), te.encode(`w:${n}`));
    await tx.commit();
    acked.set(`k:${n}`, `v:${n}`);
    acked.set(`m:${n}`, `w:${n}`);
  };
  for (let n = 0; n < 20; n++) await write(n);
  // A flashback asked of a follower runs there: a node drives only the regions its store leads,
  // so it first takes the region's leadership (raft leader transfer), then prepares and finishes.
  const one = (await c.regions())[0]!;
  const oneLeader = one.peers.find((p) => p.id === one.leaderPeerId)?.address;
  const noted = await c.getTs();
  const bad = await c.begin();
  bad.put(te.encode('fb:x'), te.encode('bad'));
  bad.put(te.encode('k:3'), te.encode('bad'));
  await bad.commit();
  const follower = [1, 2, 3].map(grpcAt).find((a) => a !== oneLeader)!;
  const fb = await mustRun(['flashback', '--to-tso', String(noted)], { FLASHKV_ENDPOINT: follower, FLASHKV_TOKEN: TOKEN });
  t.is(fb.code, 0, fb.stderr);
  t.regex(fb.stdout, /done: version \d+, 1 regions, 2 keys rewritten/);
  const led = (await c.regions())[0]!;
  t.is(led.peers.find((p) => p.id === led.leaderPeerId)?.address, follower, 'the follower asked took the leadership');
  const fbTs = await c.getTs();
  t.is(await c.get(te.encode('fb:x'), fbTs), undefined);
  t.is(td.decode((await c.get(te.encode('k:3'), fbTs))!), 'v:3');

  // Two regions (split through raft from the client): after the kill each elects its own leader,
  // possibly on different nodes, and a scan of both is served piece by piece.
  await c.split(te.encode('m:'));
  // The node answering may apply the replicated directory's split a moment after the one that split.
  const regionCount = async (n: number) => {
    for (let i = 0; i < 100 && (await c.regions()).length !== n; i++) await new Promise((r) => setTimeout(r, 50));
    return (await c.regions()).length;
  };
  t.is(await regionCount(2), 2);

  // A flashback of [k:1, m:5) through a node that leads none of its regions: it splits at both
  // bounds and moves the leadership of every region of the range onto its own store (raft leader
  // transfer over TCP) before it prepares them, where the node used to refuse or wait on pieces
  // led elsewhere. Keys outside keep their new values. Before it, previews with leaders spread.
  const leaderAt = async () => (await c.regions()).map((r) => r.peers.find((p) => p.id === r.leaderPeerId)?.address);
  const leadersOf = async () => new Set(await leaderAt());
  const leadersBefore = await leadersOf();
  const idle = [1, 2, 3].map(grpcAt).filter((a) => !leadersBefore.has(a));
  t.true(idle.length >= 1, `every node leads a region: ${[...leadersBefore].join(', ')}`);
  const noted2 = await c.getTs();
  const inRange = { start: te.encode('k:1'), end: te.encode('m:5') };
  const wanted = (await c.scan({ ...inRange, ts: noted2 })).map((p) => `${td.decode(p.key)}=${td.decode(p.value)}`);
  const bad2 = await c.begin();
  bad2.put(te.encode('k:10'), te.encode('bad'));
  bad2.put(te.encode('l:x'), te.encode('bad'));
  bad2.delete(te.encode('m:2'));
  bad2.put(te.encode('n:out'), te.encode('outside'));
  await bad2.commit();
  acked.set('n:out', 'outside');
  // A preview of the right region alone through an idle node gathers that region there, so the two
  // regions are led by different nodes; a preview of the whole range through a node leading
  // neither was SERVER_BUSY ("not led by one node") and now reads each region where it is led.
  const env = (a: string) => ({ FLASHKV_ENDPOINT: a, FLASHKV_TOKEN: TOKEN });
  // The region list may show a leader a heartbeat late, so a node that seemed idle may lead the
  // left region: the move is asked of a node not leading it, again (at most 3 times) until spread.
  let spread = await leaderAt();
  for (let attempt = 0; attempt < 3 && (spread[0] === spread[1] || spread.includes(undefined)); attempt++) {
    const mover = [1, 2, 3].map(grpcAt).find((a) => a !== spread[0] && a !== spread[1]) ?? idle[0]!;
    const mc = new FlashKvClient({ endpoint: mover, token: TOKEN, deadlineMs: 5000 });
    for (let i = 0; i < 100 && (await mc.regions()).length !== 2; i++) await new Promise((r) => setTimeout(r, 50));
    mc.close();
    const pvRight = await mustRun(['flashback', '--preview', '--to-tso', String(noted2), '--start', 'm:', '--end', 'm:5'], env(mover));
    t.is(pvRight.code, 0, pvRight.stderr);
    t.regex(pvRight.stdout, /\(1 regions\): 1 keys to rewrite — 0 updated, 0 deleted, 1 restored/);
    spread = await leaderAt();
    for (let i = 0; i < 40 && (spread[0] === spread[1] || spread.includes(undefined)); i++) {
      await new Promise((r) => setTimeout(r, 50));
      spread = await leaderAt();
    }
  }
  t.is(spread.length, 2);
  t.not(spread[0], spread[1], `the two regions are led by different nodes: ${spread.join(', ')}`);
  const previewer = [1, 2, 3].map(grpcAt).find((a) => !spread.includes(a))!;
  t.truthy(previewer);
  const pv = await mustRun(['flashback', '--preview', '--to-tso', String(noted2), '--start', 'k:1', '--end', 'm:5'], env(previewer));
  t.is(pv.code, 0, pv.stderr);
  t.regex(pv.stdout, /\(2 regions\): 3 keys to rewrite — 1 updated, 1 deleted, 1 restored, \d+ unchanged; 0 locks/);
  const ts2Preview = await c.getTs();
  t.is(td.decode((await c.get(te.encode('l:x'), ts2Preview))!), 'bad', 'a preview changes nothing');
  // The run goes through a node that now leads none of the range (the previewer gathered it).
  const driver = [1, 2, 3].map(grpcAt).find((a) => a !== previewer)!;
  const fb2 = await mustRun(['flashback', '--to-tso', String(noted2), '--start', 'k:1', '--end', 'm:5'], env(driver));
  t.is(fb2.code, 0, fb2.stderr);
  t.regex(fb2.stdout, /done: version \d+, 2 regions, 3 keys rewritten/);
  const fbTs2 = await c.getTs();
  t.deepEqual((await c.scan({ ...inRange, ts: fbTs2 })).map((p) => `${td.decode(p.key)}=${td.decode(p.value)}`), wanted);
  t.is(td.decode((await c.get(te.encode('n:out'), fbTs2))!), 'outside');
  t.is(await regionCount(4), 4);
  t.true((await leadersOf()).has(driver), 'the driving node leads the regions it flashed back');

  // kill -9 the leader's process; writes go on through the other two after a new election.
  const rs = await c.regions();
  const leaderAddress = rs[1]!.peers.find((p) => p.id === rs[1]!.leaderPeerId)?.address;

  const victim = [...nodes].find(([, s]) => s.endpoint === leaderAddress);
  t.truthy(victim, `no node at the leader address ${leaderAddress}`);
  await victim![1].stop('SIGKILL');
  nodes.delete(victim![0]);
  const t0 = Date.now();
  for (let n = 20; n < 40; n++) await write(n);
  t.log(`20 txns after the kill in ${Date.now() - t0} ms (retries: ${JSON.stringify(c.stats.retries)})`);

  const ts = await c.getTs();
  for (const [k, v] of acked) t.is(td.decode((await c.get(te.encode(k), ts)) ?? new Uint8Array()), v, k);
  const all = await c.scan({ ts });
  t.is(all.length, acked.size + 3);
  const reversed = await c.scan({ ts, reverse: true, keyOnly: true });
  t.deepEqual(reversed.map((p) => td.decode(p.key)), all.map((p) => td.decode(p.key)).reverse());
  const after = await c.regions();
  t.log(`leaders after the kill: ${after.map((r) => `region ${r.id} at ${r.peers.find((p) => p.id === r.leaderPeerId)?.address ?? '?'}`).join(', ')}`);
  // The killed node restarts on its data dir and rejoins; a client of it alone reads every acknowledged write.
  const [vid] = victim!;
  nodes.set(vid, await mustServe(['--store-id', String(vid), '--raft-listen', raft(vid), '--peers', peers, '--grpc-peers', grpcPeers, '--data', join(dir, `n${vid}`), '--listen', grpcAt(vid)]));
  const back = new FlashKvClient({ endpoint: grpcAt(vid), token: TOKEN, deadlineMs: 5000, maxRegionAttempts: 80 });
  t.teardown(() => back.close());
  const ts2 = await back.getTs();
  t.true(ts2 > ts);
  t.is((await back.scan({ ts: ts2 })).length, acked.size + 3);
  const got = await back.batchGet([...acked.keys()].map((k) => te.encode(k)), ts2);
  t.deepEqual(got.map((p) => td.decode(p.value)), [...acked.values()]);
  const survivor = [...nodes.keys()][0]!;
  const cli = await mustRun(['get', 'cli:1'], { FLASHKV_ENDPOINT: grpcAt(survivor), FLASHKV_TOKEN: TOKEN });
  t.is(cli.stdout, 'v1\n');
});

test('serve as a cluster node: incomplete or malformed node options are usage errors', async (t) => {
  const partial = await mustRun(['serve', '--store-id', '1', '--memory', '--token', 'x']);
  t.is(partial.code, 2);
  t.is(partial.stderr, 'flashkv: a cluster node needs --store-id, --raft-listen, --peers and --grpc-peers together\n');
  const base = ['serve', '--memory', '--token', 'x', '--store-id', '4', '--raft-listen', '127.0.0.1:7001', '--grpc-peers', '1=127.0.0.1:1'];
  const missing = await mustRun([...base, '--peers', '1=127.0.0.1:7001']);
  t.is(missing.stderr, 'flashkv: --peers must list this store (4) too\n');
  const bad = await mustRun([...base, '--peers', '1=nowhere']);
  t.is(bad.code, 2);
  t.is(bad.stderr, 'flashkv: --peers: expected id=host:port,... with ids from 1, got "1=nowhere"\n');
});
