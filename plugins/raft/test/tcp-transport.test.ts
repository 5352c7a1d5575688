// The TCP transport on loopback: framing, batching, token, garbage and oversized frames,
// reconnect with backoff, frame size limits on the sending side.
import test from 'ava';
import { createConnection, createServer, type Socket } from 'node:net';
import { Rng, testSeed } from '@flashkv/core/testing';
import type { Entry, Message, MessageType } from '../src/core/index.js';
import {
  FRAME_RAFT,
  FrameDecoder,
  FrameError,
  ROLE_PEER,
  TcpTransport,
  WIRE_VERSION,
  decodeRaftFrame,
  encodeEnvelope,
  encodeHello,
  encodeRaftFrame,
  frame,
  tokenMatches,
  type BatchRaftReceiver,
  type NetAddress,
  type RaftEnvelope,
  type TcpTransportOptions,
} from '../src/index.js';
import { createHash } from 'node:crypto';

const LOCAL = { host: '127.0.0.1', port: 0 };
const TOKEN = 'cluster-secret';

class Sink implements BatchRaftReceiver {
  readonly got: RaftEnvelope[] = [];
  batches = 0;
  readonly snapReports: { regionId: number; to: number; delivered: boolean }[] = [];
  readonly unreachable: { regionId: number; to: number }[] = [];
  constructor(readonly storeId: number) {}
  async receive(env: RaftEnvelope): Promise<void> {
    this.got.push(env);
  }
  async receiveMany(envs: readonly RaftEnvelope[]): Promise<void> {
    this.batches++;
    this.got.push(...envs);
  }
  async reportSnapshot(regionId: number, to: number, delivered: boolean): Promise<void> {
    this.snapReports.push({ regionId, to, delivered });
  }
  async reportUnreachable(regionId: number, to: number): Promise<void> {
    this.unreachable.push({ regionId, to });
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, ms = 15000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

async function node(storeId: number, extra: Partial<TcpTransportOptions> = {}): Promise<{ t: TcpTransport; sink: Sink; addr: NetAddress }> {
  const t = new TcpTransport({ storeId, listen: LOCAL, peers: new Map(), token: TOKEN, ...extra });
  const sink = new Sink(storeId);
  t.attach(sink);
  const addr = await t.start();
  return { t, sink, addr };
}

async function pair(extra: Partial<TcpTransportOptions> = {}) {
  const a = await node(1, extra);
  const b = await node(2, extra);
  a.t.setPeer(2, b.addr);
  b.t.setPeer(1, a.addr);
  return { a, b, close: async () => Promise.all([a.t.close(), b.t.close()]) };
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function raw(addr: NetAddress): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createConnection(addr, () => resolve(s));
    s.on('error', reject);
    s.resume(); // read (and discard) what the node answers, so its close is seen
  });
}

function closed(s: Socket): Promise<void> {
  return new Promise((r) => (s.destroyed ? r() : s.on('close', () => r())));
}

const TYPES: MessageType[] = ['app', 'appResp', 'vote', 'voteResp', 'preVote', 'preVoteResp', 'snap', 'heartbeat', 'heartbeatResp', 'timeoutNow', 'transferLeader', 'readIndex', 'readIndexResp'];

function randomMessage(rng: Rng): Message {
  const m: { -readonly [K in keyof Message]: Message[K] } = { type: rng.pick(TYPES), from: rng.int(1000) + 1, to: rng.int(1000) + 1, term: rng.int(2 ** 40) };
  if (rng.chance(0.5)) m.logTerm = rng.int(1e6);
  if (rng.chance(0.5)) m.index = rng.int(2 ** 50);
  if (rng.chance(0.5)) m.commit = rng.int(1e9);
  if (rng.chance(0.3)) m.reject = rng.chance(0.5);
  if (rng.chance(0.3)) m.rejectHint = rng.int(1e6);
  if (rng.chance(0.2)) m.force = rng.chance(0.5);
  if (rng.chance(0.2)) m.transferee = rng.int(100);
  if (rng.chance(0.3)) m.context = rng.bytes(rng.int(20));
  if (rng.chance(0.5)) {
    const entries: Entry[] = [];
    for (let i = rng.int(5); i > 0; i--) entries.push({ term: rng.int(100), index: rng.int(1e6), type: rng.chance(0.8) ? 'normal' : 'confChange', data: rng.bytes(rng.int(50)) });
    m.entries = entries;
  }
  if (rng.chance(0.2)) {
    m.snapshot = { metadata: { index: rng.int(1e6), term: rng.int(100), confState: { voters: [1, 2, 3].slice(0, rng.int(4)), learners: rng.chance(0.5) ? [9] : [] } }, data: rng.bytes(rng.int(100)) };
  }
  return m;
}

test('wire: every message field round-trips through a raft frame (seeded)', (t) => {
  const seed = testSeed();
  t.log(`SEED=${seed}`);
  const rng = new Rng(seed);
  for (let round = 0; round < 200; round++) {
    const envs: RaftEnvelope[] = [];
    for (let i = rng.int(6) + 1; i > 0; i--) envs.push({ regionId: rng.int(1e6) + 1, fromStore: 7, toStore: rng.int(5) + 1, message: randomMessage(rng) });
    const body = encodeRaftFrame(envs.map(encodeEnvelope));
    t.deepEqual(decodeRaftFrame(body, 7), envs, `SEED=${seed} round ${round}`);
  }
});

test('wire: the frame decoder reassembles frames split anywhere and refuses empty or oversized lengths before buffering', (t) => {
  const seed = testSeed();
  t.log(`SEED=${seed}`);
  const rng = new Rng(seed);
  const bodies = Array.from({ length: 50 }, () => rng.bytes(rng.int(300) + 1));
  const stream = Buffer.concat(bodies.map((b) => frame(b)));
  const dec = new FrameDecoder(1000);
  const out: Uint8Array[] = [];
  for (let at = 0; at < stream.length; ) {
    const n = Math.min(stream.length - at, rng.int(40) + 1);
    out.push(...dec.push(stream.subarray(at, at + n)));
    at += n;
  }
  t.deepEqual(out.map((b) => Buffer.from(b)), bodies.map((b) => Buffer.from(b)));
  t.throws(() => new FrameDecoder(1000).push(frame(new Uint8Array(1001)).subarray(0, 4)), { instanceOf: FrameError, message: /exceeds the maximum/ });
  t.throws(() => new FrameDecoder(1000).push(new Uint8Array([0, 0, 0, 0])), { instanceOf: FrameError, message: /empty/ });
  t.throws(() => decodeRaftFrame(new Uint8Array([FRAME_RAFT, 0, 0, 0, 1, 9, 9]), 1), { instanceOf: FrameError });
});

test('token: compared as digests in constant time; only the exact token matches', (t) => {
  const digest = createHash('sha256').update('abc').digest();
  t.true(tokenMatches(digest, new TextEncoder().encode('abc')));
  t.false(tokenMatches(digest, new TextEncoder().encode('abd')));
  t.false(tokenMatches(digest, new TextEncoder().encode('abcd')));
  t.false(tokenMatches(digest, new Uint8Array(0)));
});

test('messages arrive in order, batched: many sends in one turn travel in few frames and reach the receiver in few batches', async (t) => {
  const { a, b, close } = await pair();
  try {
    const sent: RaftEnvelope[] = [];
    for (let i = 0; i < 500; i++) {
      const env: RaftEnvelope = { regionId: 1 + (i % 3), fromStore: 1, toStore: 2, message: { type: 'app', from: 11, to: 12, term: 3, index: i, entries: [{ term: 3, index: i + 1, type: 'normal', data: new Uint8Array(100).fill(i & 0xff) }] } };
      sent.push(env);
      a.t.send(env);
    }
    await until(() => b.sink.got.length === 500, 5000, 'all 500 messages');
    t.deepEqual(b.sink.got, sent);
    t.is(a.t.stats.messagesSent, 500);
    t.true(a.t.stats.framesSent <= 2, `frames sent: ${a.t.stats.framesSent}`);
    t.true(b.sink.batches <= 3, `receiver batches: ${b.sink.batches}`);
    // And the other direction over b's own outbound connection.
    b.t.send({ regionId: 1, fromStore: 2, toStore: 1, message: { type: 'appResp', from: 12, to: 11, term: 3, index: 499 } });
    await until(() => a.sink.got.length === 1);
    t.is(a.sink.got[0]!.message.type, 'appResp');
    t.is(a.sink.got[0]!.fromStore, 2);
  } finally {
    await close();
  }
});

test('lazyCommitMs: a commit-only append waits for the next append to the same store and shares its frame; alone it still goes out after the delay', async (t) => {
  const { a, b, close } = await pair({ lazyCommitMs: 200 });
  try {
    // Connect first, so the counts below are about flushing, not the connection coming up.
    a.t.send({ regionId: 1, fromStore: 1, toStore: 2, message: { type: 'heartbeat', from: 11, to: 12, term: 3 } });
    await until(() => b.sink.got.length === 1);
    const frames0 = a.t.stats.framesSent;
    const commitOnly: RaftEnvelope = { regionId: 1, fromStore: 1, toStore: 2, message: { type: 'app', from: 11, to: 12, term: 3, index: 4, logTerm: 3, commit: 4, entries: [] } };
    const next: RaftEnvelope = { regionId: 1, fromStore: 1, toStore: 2, message: { type: 'app', from: 11, to: 12, term: 3, index: 4, logTerm: 3, commit: 4, entries: [{ term: 3, index: 5, type: 'normal', data: new Uint8Array([7]) }] } };
    a.t.send(commitOnly);
    await new Promise((r) => setTimeout(r, 20));
    t.is(b.sink.got.length, 1, 'the commit-only append is held');
    a.t.send(next);
    await until(() => b.sink.got.length === 3);
    t.deepEqual(b.sink.got.slice(1), [commitOnly, next], 'in order');
    t.is(a.t.stats.framesSent - frames0, 1, 'one frame for both');
    const started = Date.now();
    a.t.send({ ...commitOnly, message: { ...commitOnly.message, commit: 5, index: 5 } });
    await until(() => b.sink.got.length === 4, 5000, 'the lone commit-only append');
    t.true(Date.now() - started >= 150, `sent after the delay (${Date.now() - started} ms)`);
  } finally {
    await close();
  }
});

test('a batch larger than the maximum frame is split into several frames; a single message above it is dropped and reported', async (t) => {
  const { a, b, close } = await pair({ maxFrameBytes: 4096 });
  try {
    for (let i = 0; i < 40; i++) a.t.send({ regionId: 1, fromStore: 1, toStore: 2, message: { type: 'app', from: 11, to: 12, term: 1, entries: [{ term: 1, index: i + 1, type: 'normal', data: new Uint8Array(300) }] } });
    a.t.send({ regionId: 4, fromStore: 1, toStore: 2, message: { type: 'snap', from: 11, to: 12, term: 1, snapshot: { metadata: { index: 9, term: 1, confState: { voters: [11, 12], learners: [] } }, data: new Uint8Array(5000) } } });
    await until(() => b.sink.got.length === 40, 5000, '40 messages');
    t.true(a.t.stats.framesSent >= 3, `frames: ${a.t.stats.framesSent}`);
    t.is(a.t.stats.messagesDropped, 1);
    await until(() => a.sink.snapReports.length === 1);
    t.deepEqual(a.sink.snapReports, [{ regionId: 4, to: 12, delivered: false }]);
    t.deepEqual(b.sink.got.map((e) => e.message.entries![0]!.index), Array.from({ length: 40 }, (_, i) => i + 1));
  } finally {
    await close();
  }
});

test('a delivered snapshot is reported delivered to its sender', async (t) => {
  const { a, b, close } = await pair();
  try {
    a.t.send({ regionId: 4, fromStore: 1, toStore: 2, message: { type: 'snap', from: 11, to: 12, term: 1, snapshot: { metadata: { index: 9, term: 1, confState: { voters: [11, 12], learners: [] } }, data: new Uint8Array(5000) } } });
    await until(() => b.sink.got.length === 1 && a.sink.snapReports.length === 1);
    t.deepEqual(a.sink.snapReports, [{ regionId: 4, to: 12, delivered: true }]);
  } finally {
    await close();
  }
});

test('a connection with the wrong token is closed and nothing it sends is delivered', async (t) => {
  const b = await node(2);
  const bad = await node(1, { token: 'not-the-secret' });
  try {
    bad.t.setPeer(2, b.addr);
    bad.t.send({ regionId: 1, fromStore: 1, toStore: 2, message: { type: 'heartbeat', from: 11, to: 12, term: 1 } });
    await until(() => b.t.stats.rejected >= 1, 5000, 'the rejection');
    await sleep(50);
    t.is(b.sink.got.length, 0);
    t.is(bad.t.stats.connects, 0);
    t.true(bad.t.stats.connectFailures >= 1);
    t.true(bad.sink.unreachable.length >= 1, 'the sender learns the peer is unreachable');
  } finally {
    await Promise.all([b.t.close(), bad.t.close()]);
  }
});

test.serial('garbage, an oversized length, a bad frame after hello and a silent connection are each disconnected; the node keeps serving good peers', async (t) => {
  const seed = testSeed();
  t.log(`SEED=${seed}`);
  const rng = new Rng(seed);
  const { a, b, close } = await pair({ maxFrameBytes: 1 << 20, helloTimeoutMs: 300 });
  try {
    // 1. random bytes instead of a hello
    const g = await raw(b.addr);
    g.write(Buffer.from(rng.bytes(64)));
    await closed(g);
    // 2. a length claiming more than the maximum: closed without waiting for the body
    const o = await raw(b.addr);
    const head = Buffer.alloc(4);
    head.writeUInt32BE((1 << 20) + 1);
    o.write(head);
    await closed(o);
    // 3. a valid hello, then a raft frame that does not decode
    const h = await raw(b.addr);
    h.write(frame(encodeHello({ version: WIRE_VERSION, role: ROLE_PEER, storeId: 3, token: new TextEncoder().encode(TOKEN) })));
    h.write(frame(new Uint8Array([FRAME_RAFT, 0, 0, 0, 2, ...rng.bytes(30)])));
    await closed(h);
    // 4. a hello claiming to be the listener itself
    const self = await raw(b.addr);
    self.write(frame(encodeHello({ version: WIRE_VERSION, role: ROLE_PEER, storeId: 2, token: new TextEncoder().encode(TOKEN) })));
    await closed(self);
    // 5. silence: closed after the hello timeout
    const quiet = await raw(b.addr);
    const t0 = Date.now();
    await closed(quiet);
    t.true(Date.now() - t0 >= 250, 'the silent connection lived until the hello timeout');
    t.is(b.t.stats.rejected, 5);
    t.is(b.sink.got.length, 0);
    // The node is still fine: a real peer's messages get through.
    a.t.send({ regionId: 1, fromStore: 1, toStore: 2, message: { type: 'heartbeat', from: 11, to: 12, term: 5, commit: 3 } });
    await until(() => b.sink.got.length === 1, 5000, 'the good message');
    t.deepEqual(b.sink.got[0]!.message, { type: 'heartbeat', from: 11, to: 12, term: 5, commit: 3 });
  } finally {
    await close();
  }
});

test.serial('reconnect with backoff: a peer that is down is retried with growing delays, messages meanwhile are dropped and reported, and traffic resumes once it is up', async (t) => {
  const port = await freePort();
  const a = await node(1, { backoffMinMs: 20, backoffMaxMs: 160 });
  try {
    a.t.setPeer(2, { host: '127.0.0.1', port });
    a.t.send({ regionId: 1, fromStore: 1, toStore: 2, message: { type: 'heartbeat', from: 11, to: 12, term: 1 } });
    await sleep(600);
    const failures = a.t.stats.connectFailures;
    // Delays 20, 40, 80, 160, 160...: about 6 attempts in 600 ms (fewer on a loaded machine),
    // where a retry loop without backoff would make hundreds; and it keeps retrying.
    t.true(failures >= 2 && failures <= 9, `connect failures in 600 ms: ${failures}`);
    await until(() => a.t.stats.connectFailures > failures, 3000, 'another attempt');
    t.true(a.sink.unreachable.some((u) => u.regionId === 1 && u.to === 12));
    // Bring the peer up on that port: the next attempt connects and messages flow.
    const b = new TcpTransport({ storeId: 2, listen: { host: '127.0.0.1', port }, peers: new Map(), token: TOKEN });
    const sink = new Sink(2);
    b.attach(sink);
    await b.start();
    try {
      await until(() => a.t.stats.connects === 1, 3000, 'the reconnect');
      a.t.send({ regionId: 1, fromStore: 1, toStore: 2, message: { type: 'heartbeat', from: 11, to: 12, term: 2 } });
      await until(() => sink.got.length === 1, 3000, 'a message after reconnect');
      t.is(sink.got[0]!.message.term, 2);
      // The peer restarts: the connection drops, and comes back by itself.
      await b.close();
      const b2 = new TcpTransport({ storeId: 2, listen: { host: '127.0.0.1', port }, peers: new Map(), token: TOKEN });
      const sink2 = new Sink(2);
      b2.attach(sink2);
      await b2.start();
      try {
        await until(() => a.t.stats.connects === 2, 3000, 'the second reconnect');
        a.t.send({ regionId: 1, fromStore: 1, toStore: 2, message: { type: 'heartbeat', from: 11, to: 12, term: 3 } });
        await until(() => sink2.got.length === 1, 3000);
        t.is(sink2.got[0]!.message.term, 3);
      } finally {
        await b2.close();
      }
    } finally {
      await b.close();
    }
  } finally {
    await a.t.close();
  }
});

test('isolate cuts raft traffic both ways at this node; clearing it restores it', async (t) => {
  const { a, b, close } = await pair();
  try {
    a.t.isolate([2]);
    a.t.send({ regionId: 1, fromStore: 1, toStore: 2, message: { type: 'heartbeat', from: 11, to: 12, term: 1 } });
    b.t.send({ regionId: 1, fromStore: 2, toStore: 1, message: { type: 'heartbeatResp', from: 12, to: 11, term: 1 } });
    // b's message reaches a (and is dropped there) before the heal, whatever the machine's load.
    await until(() => a.t.stats.messagesReceived >= 1, 15000, "b's message reaching a");
    t.is(a.t.stats.messagesDropped, 1, "a's own message was dropped at the cut");
    t.is(b.sink.got.length, 0);
    t.is(a.sink.got.length, 0);
    a.t.isolate([]);
    a.t.send({ regionId: 1, fromStore: 1, toStore: 2, message: { type: 'heartbeat', from: 11, to: 12, term: 2 } });
    b.t.send({ regionId: 1, fromStore: 2, toStore: 1, message: { type: 'heartbeatResp', from: 12, to: 11, term: 2 } });
    await until(() => b.sink.got.length === 1 && a.sink.got.length === 1, 15000, 'both directions after heal');
    t.is(b.sink.got[0]!.message.term, 2);
  } finally {
    await close();
  }
});
