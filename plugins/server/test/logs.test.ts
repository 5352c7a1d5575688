import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { defaultTxnPlugins, Kernel } from '@flashkv/core';
import { memoryEngine } from '@flashkv/engine-memory';
import type { LevelWithSilent } from 'pino';
import { FlashKvClient, SERVER, server } from '../src/index.js';
import { b, mustFailWith, TOKEN } from './helpers.js';

type Line = Record<string, unknown> & { level: number; msg: string };

/** A node whose pino logs land in `lines` (one parsed JSON object per line). */
async function loggedNode(level: LevelWithSilent): Promise<{ lines: Line[]; kernel: Kernel; client: FlashKvClient }> {
  const lines: Line[] = [];
  const logStream = { write: (s: string) => void lines.push(JSON.parse(s) as Line) };
  const kernel = await Kernel.start({ plugins: [memoryEngine(), ...defaultTxnPlugins(), server({ listen: '127.0.0.1:0', token: TOKEN, logLevel: level, logStream, shutdownGraceMs: 1000 })] });
  const client = new FlashKvClient({ endpoint: kernel.resolve(SERVER).address!, token: TOKEN, deadlineMs: 5000 });
  return { lines, kernel, client };
}

const INFO = 30;
const WARN = 40;

test('info: startup, failed calls with method/code/peer, shutdown; successful calls are not logged', async (t) => {
  const { lines, kernel, client } = await loggedNode('info');
  const address = kernel.resolve(SERVER).address!;
  const start = lines.find((l) => l.msg === 'flashkv server listening');
  t.truthy(start, JSON.stringify(lines));
  t.is(start!.address, address);
  t.is(start!.level, INFO);
  t.false(start!.tls as boolean);

  const before = lines.length;
  for (let i = 0; i < 5; i++) await client.get(b(`k${i}`), await client.getTs());
  t.is(lines.length, before, 'ten successful calls, no lines at info');

  await mustFailWith(new FlashKvClient({ endpoint: address, token: 'nope' }).getTs(), grpc.status.UNAUTHENTICATED);
  const refused = lines.find((l) => l.msg === 'call failed' && l.code === 'UNAUTHENTICATED');
  t.truthy(refused, JSON.stringify(lines));
  t.is(refused!.level, WARN);
  t.is(refused!.method, 'Tso');
  t.regex(String(refused!.peer), /127\.0\.0\.1:\d+/);

  await mustFailWith(client.prewrite({ mutations: [{ op: 'bogus' as never, key: b('x') }], primary: b('x'), startTs: await client.getTs(), lockTtl: 100n }), grpc.status.INVALID_ARGUMENT);
  const bad = lines.find((l) => l.msg === 'call failed' && l.method === 'Prewrite');
  t.is(bad?.code, 'INVALID_ARGUMENT');
  t.is(bad?.kvCode, 'INVALID_ARGUMENT');
  t.is(bad?.level, INFO);
  t.regex(String(bad?.details), /op must be one of/);

  client.close();
  await kernel.stop();
  const stopping = lines.findIndex((l) => l.msg === 'flashkv server shutting down');
  const stopped = lines.findIndex((l) => /^flashkv server stopped/.test(l.msg));
  t.true(stopping >= 0 && stopped > stopping, JSON.stringify(lines.slice(-3)));
  t.false(lines[stopped]!.forced as boolean);
});

test('debug logs every call; silent logs nothing', async (t) => {
  const dbg = await loggedNode('debug');
  await dbg.client.getTs();
  t.true(dbg.lines.some((l) => l.msg === 'call ok' && l.method === 'Tso' && typeof l.ms === 'number'));
  dbg.client.close();
  await dbg.kernel.stop();

  const quiet = await loggedNode('silent');
  await mustFailWith(new FlashKvClient({ endpoint: quiet.kernel.resolve(SERVER).address!, token: 'nope' }).getTs(), grpc.status.UNAUTHENTICATED);
  quiet.client.close();
  await quiet.kernel.stop();
  t.deepEqual(quiet.lines, []);
});
