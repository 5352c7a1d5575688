import test from 'ava';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { writeJsonLines, writeJsonLinesFile } from '../src/index.js';
import { mustPut, mustSettle, setup } from './cdc-must.js';

const hex = (s: string) => Buffer.from(s, 'latin1').toString('hex');

test('JSON lines: one object per event, hex keys and values, decimal timestamps; the stream ends with the feed', async (t) => {
  const env = await setup();
  const c1 = await mustPut(env, { a: 'x' });
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (b: Buffer) => chunks.push(b));
  const sink = writeJsonLines(env.cdc.changefeed({ startTs: 0n, withOldValue: true }), out);
  const c2 = await mustPut(env, { a: 'y' });
  await env.cdc.tick();
  await mustSettle(env);
  env.cdc.stop();
  await sink.done;
  const lines = Buffer.concat(chunks).toString('utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  t.deepEqual(lines[0], { type: 'committed', regionId: lines[0]!['regionId'], key: hex('a'), op: 'put', value: hex('x'), oldValue: null, startTs: lines[0]!['startTs'], commitTs: String(c1) });
  t.deepEqual(lines[1], { type: 'committed', regionId: lines[0]!['regionId'], key: hex('a'), op: 'put', value: hex('y'), oldValue: hex('x'), startTs: lines[1]!['startTs'], commitTs: String(c2) });
  t.true(lines.slice(2).some((l) => l['type'] === 'globalResolvedTs' && BigInt(l['ts'] as string) > c2));
  t.true(out.writableEnded);
});

test('JSON lines to a file: appended across a restart from the checkpoint', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'flashkv-cdc-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'feed.jsonl');
  const env = await setup();
  await mustPut(env, { k: '1' });
  const first = writeJsonLinesFile(env.cdc.changefeed({ startTs: 0n }), path);
  await env.cdc.tick();
  await mustSettle(env);
  first.subscription.unsubscribe();
  await first.done;
  const lines1 = readFileSync(path, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, string>);
  const checkpoint = BigInt(lines1.filter((l) => l['type'] === 'globalResolvedTs').at(-1)!['ts']!);
  await mustPut(env, { k: '2' });
  const second = writeJsonLinesFile(env.cdc.changefeed({ startTs: checkpoint }), path);
  await mustSettle(env);
  env.cdc.stop();
  await second.done;
  const rows = readFileSync(path, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, string>).filter((l) => l['type'] === 'committed');
  t.deepEqual(rows.map((r) => Buffer.from(r['value']!, 'hex').toString()), ['1', '2']);
});
