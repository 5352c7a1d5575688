import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { defaultTxnPlugins, isKvError, Kernel } from '@flashkv/core';
import { memoryEngine } from '@flashkv/engine-memory';
import { FlashKvClient, FlashKvServer, SERVER, server, type ServerPluginOptions } from '../src/index.js';
import { makeTestPki, type TestPki } from './certs.js';
import { b, mustFailWith, s, TOKEN } from './helpers.js';

let pki: TestPki;
test.before(() => {
  pki = makeTestPki();
});
test.after.always(() => pki?.cleanup());

async function startNode(t: { teardown(fn: () => Promise<void> | void): void }, options: Omit<ServerPluginOptions, 'listen'>): Promise<string> {
  const kernel = await Kernel.start({ plugins: [memoryEngine(), ...defaultTxnPlugins(), server({ listen: '127.0.0.1:0', shutdownGraceMs: 1000, ...options })] });
  t.teardown(() => kernel.stop());
  return kernel.resolve(SERVER).address!;
}

function client(t: { teardown(fn: () => void): void }, c: ConstructorParameters<typeof FlashKvClient>[0]): FlashKvClient {
  const out = new FlashKvClient({ deadlineMs: 5000, ...c });
  t.teardown(() => out.close());
  return out;
}

async function roundTrip(c: FlashKvClient, key: string): Promise<string | undefined> {
  const tx = await c.begin();
  tx.put(b(key), b(`value of ${key}`));
  const at = await tx.commit();
  return s(await c.get(b(key), at));
}

test('TLS with a token: the right token over TLS works; a wrong one is UNAUTHENTICATED; a plaintext client gets nothing', async (t) => {
  const endpoint = await startNode(t, { token: TOKEN, tls: { cert: pki.server.cert, key: pki.server.key } });
  t.is(await roundTrip(client(t, { endpoint, token: TOKEN, tls: { ca: pki.ca, serverName: 'localhost' } }), 'k1'), 'value of k1');
  await mustFailWith(client(t, { endpoint, token: 'wrong', tls: { ca: pki.ca, serverName: 'localhost' } }).getTs(), grpc.status.UNAUTHENTICATED);
  // No TLS at all against a TLS port: the connection never comes up.
  await mustFailWith(client(t, { endpoint, token: TOKEN, deadlineMs: 8000 }).getTs(), grpc.status.UNAVAILABLE);
  // A client that does not trust the server's CA refuses the server.
  await mustFailWith(client(t, { endpoint, token: TOKEN, deadlineMs: 8000, tls: { ca: pki.stranger.cert, serverName: 'localhost' } }).getTs(), grpc.status.UNAVAILABLE);
});

test('mutual TLS without a token: a client certificate from the CA is accepted', async (t) => {
  const endpoint = await startNode(t, { tls: { cert: pki.server.cert, key: pki.server.key, clientCa: pki.ca } });
  const c = client(t, { endpoint, tls: { ca: pki.ca, cert: pki.client.cert, key: pki.client.key, serverName: 'localhost' } });
  t.is(await roundTrip(c, 'mtls'), 'value of mtls');
  const feedless = await mustFailWith(c.flashbackPreview({ version: 1n }), grpc.status.UNIMPLEMENTED);
  t.regex(feedless.message, /FLASHBACK/);
});

test('mutual TLS: no client certificate, or one from another CA, is refused at the handshake', async (t) => {
  const endpoint = await startNode(t, { token: TOKEN, tls: { cert: pki.server.cert, key: pki.server.key, clientCa: pki.ca } });
  // The token alone is not enough when the server asks for client certificates.
  const none = await mustFailWith(client(t, { endpoint, token: TOKEN, deadlineMs: 8000, tls: { ca: pki.ca, serverName: 'localhost' } }).getTs(), grpc.status.UNAVAILABLE);
  t.false(isKvError(none), 'refused before any handler ran');
  await mustFailWith(client(t, { endpoint, token: TOKEN, deadlineMs: 8000, tls: { ca: pki.ca, cert: pki.stranger.cert, key: pki.stranger.key, serverName: 'localhost' } }).getTs(), grpc.status.UNAVAILABLE);
  // Certificate and token both right: served; certificate right, token wrong: UNAUTHENTICATED.
  const good = client(t, { endpoint, token: TOKEN, tls: { ca: pki.ca, cert: pki.client.cert, key: pki.client.key, serverName: 'localhost' } });
  t.is(await roundTrip(good, 'both'), 'value of both');
  await mustFailWith(client(t, { endpoint, token: 'wrong', tls: { ca: pki.ca, cert: pki.client.cert, key: pki.client.key, serverName: 'localhost' } }).getTs(), grpc.status.UNAUTHENTICATED);
});

test('server options: no way to authenticate callers is refused; metrics need the token', (t) => {
  t.throws(() => server({ listen: '127.0.0.1:0' }), { instanceOf: TypeError });
  t.throws(() => server({ listen: '127.0.0.1:0', tls: { cert: pki.server.cert, key: pki.server.key } }), { instanceOf: TypeError });
  const mtls = { cert: pki.server.cert, key: pki.server.key, clientCa: pki.ca };
  t.throws(() => new FlashKvServer({ storage: {} as never, placement: {} as never, tls: mtls, metricsListen: '127.0.0.1:0' }), { instanceOf: TypeError, message: /metricsListen needs a token/ });
  t.notThrows(() => server({ listen: '127.0.0.1:0', tls: mtls }));
  t.throws(() => new FlashKvClient({ endpoint: '127.0.0.1:1', tls: { ca: pki.ca, cert: pki.client.cert } }), { instanceOf: TypeError });
});
