import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { isKvError } from '@flashkv/core';
import { FlashKvClient, flashKvService, fromServiceError } from '../src/index.js';
import { b, mustFailWith, mustStartNode, s, TOKEN, type Node } from './helpers.js';

async function withNode(t: { teardown(fn: () => Promise<void>): void }): Promise<Node> {
  const node = await mustStartNode({ withFlashback: false });
  t.teardown(() => node.stop());
  return node;
}

type Transport = 'stream' | 'unary';

function batching(node: Node, transport: Transport, token = TOKEN): FlashKvClient {
  return new FlashKvClient({ endpoint: node.endpoint, token, batching: true, batchTransport: transport, deadlineMs: 10_000 });
}

const shared = test.macro(async (t, transport: Transport) => {
  const node = await withNode(t);
  const c = batching(node, transport);
  t.teardown(() => c.close());
  // 64 concurrent single-key txns then reads of all of them.
  const stamps = await Promise.all(
    Array.from({ length: 64 }, async (_, i) => {
      const tx = await c.begin();
      tx.put(b(`key${i}`), b(`value${i}`));
      if (i % 4 === 0) tx.put(b(`zz/second${i}`), b(`other${i}`));
      return tx.commit();
    }),
  );
  t.true(stamps.every((ts) => ts > 0n));
  const ts = await c.getTs();
  const got = await Promise.all(Array.from({ length: 64 }, (_, i) => c.get(b(`key${i}`), ts)));
  got.forEach((v, i) => t.is(s(v), `value${i}`));
  t.is(s(await c.get(b('zz/second8'), ts)), 'other8');
  t.true(c.batchStats.batches < c.batchStats.ops / 4, JSON.stringify(c.batchStats));
  // The same data through an unbatched client.
  t.is(s(await node.client().get(b('key63'), ts)), 'value63');
});
test('a batching client over BatchStream: concurrent callers share batches, each gets its own answer', shared, 'stream');
test('a batching client over unary Batch calls: concurrent callers share batches, each gets its own answer', shared, 'unary');

const mixed = test.macro(async (t, transport: Transport) => {
  const node = await withNode(t);
  const plain = node.client();
  const startTs = await plain.getTs();
  await plain.prewrite({ mutations: [{ op: 'put', key: b('locked'), value: b('x') }], primary: b('locked'), startTs, lockTtl: 60_000n });
  const c = batching(node, transport);
  t.teardown(() => c.close());
  const ts = await c.getTs();
  await c.get(b('warm'), ts); // fetches the region directory, so the gets below route without waiting
  const before = c.batchStats.batches;
  // All issued in one turn: they travel in one Batch call.
  const [locked, free, tooMany, tso] = await Promise.allSettled([c.get(b('locked'), ts), c.get(b('free'), ts), c.getTsBatch(5000), c.getTs()]);
  t.is(c.batchStats.batches, before + 1);
  t.is(locked.status, 'rejected');
  const le = (locked as PromiseRejectedResult).reason as Error;
  t.true(isKvError(le, 'KEY_IS_LOCKED'), le.message);
  t.is((le as { details?: Record<string, unknown> }).details?.['grpcStatus'], grpc.status.ABORTED);
  t.deepEqual(free, { status: 'fulfilled', value: undefined });
  t.is(tooMany.status, 'rejected');
  t.true(isKvError((tooMany as PromiseRejectedResult).reason, 'INVALID_ARGUMENT'));
  t.is(tso.status, 'fulfilled');
  t.true((tso as PromiseFulfilledResult<bigint>).value > ts);
});
test('one stream batch, mixed outcomes: a locked key and a bad Tso fail alone, the rest succeed', mixed, 'stream');
test('one unary batch, mixed outcomes: a locked key and a bad Tso fail alone, the rest succeed', mixed, 'unary');

test('Batch and BatchStream need the token like every call; a malformed op fails the batch with INVALID_ARGUMENT', async (t) => {
  const node = await withNode(t);
  for (const transport of ['stream', 'unary'] as const) {
    const wrong = batching(node, transport, 'wrong');
    t.teardown(() => wrong.close());
    const all = await Promise.allSettled([wrong.getTs(), wrong.getTs()]);
    for (const r of all) {
      t.is(r.status, 'rejected');
      t.is(((r as PromiseRejectedResult).reason as grpc.ServiceError).code, grpc.status.UNAUTHENTICATED, transport);
      t.false(isKvError((r as PromiseRejectedResult).reason));
    }
  }
  const Ctor = grpc.makeGenericClientConstructor(flashKvService(), 'FlashKv');
  const raw = new Ctor(node.endpoint, grpc.credentials.createInsecure()) as grpc.Client & Record<string, (...a: unknown[]) => void>;
  t.teardown(() => raw.close());
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${TOKEN}`);
  const send = (ops: unknown[]) =>
    new Promise((resolve, reject) => raw['Batch']!({ ops }, md, { deadline: Date.now() + 5000 }, (e: unknown, r: unknown) => (e ? reject(fromServiceError(e)) : resolve(r))));
  const e = await mustFailWith(send([{ tso: { count: 1 } }, {}]), grpc.status.INVALID_ARGUMENT, 'INVALID_ARGUMENT');
  t.regex(e.message, /ops\[1\] names no known request/);
  await mustFailWith(send(Array.from({ length: 1025 }, () => ({ tso: { count: 1 } }))), grpc.status.INVALID_ARGUMENT, 'INVALID_ARGUMENT');
  t.deepEqual(await send([]), { results: [] });

  // On the stream: a malformed op ends the stream INVALID_ARGUMENT; the client's next batch opens a new one.
  const c = batching(node, 'stream');
  t.teardown(() => c.close());
  const stream = raw['BatchStream']!(md) as unknown as grpc.ClientDuplexStream<unknown, unknown>;
  const ended = new Promise<grpc.ServiceError>((resolve) => stream.on('error', (e: grpc.ServiceError) => resolve(e)));
  stream.on('data', () => undefined);
  stream.write({ id: '1', ops: [{}] });
  t.is((await ended).code, grpc.status.INVALID_ARGUMENT);
  t.true((await c.getTs()) > 0n);
});

test('server shutdown ends an open BatchStream; the client fails pending requests, nothing hangs', async (t) => {
  const node = await mustStartNode({ withFlashback: false });
  const c = batching(node, 'stream');
  t.teardown(() => c.close());
  t.true((await c.getTs()) > 0n);
  await node.kernel.stop();
  // Requests after shutdown fail (UNAVAILABLE from the ended stream or the closed port), none hang.
  const after = await Promise.allSettled([c.getTs(), c.getTs()]);
  t.true(after.every((r) => r.status === 'rejected'));
});
