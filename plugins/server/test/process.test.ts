import test from 'ava';
import { once } from 'node:events';
import { isKvError } from '@flashkv/core';
import { FlashKvClient } from '../src/index.js';
import { b, s, spawnLine } from './helpers.js';

const TOKEN = 'process-test-token';

async function scrape(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
  return res.text();
}

function openStreams(body: string, method: string): number {
  const m = new RegExp(`flashkv_grpc_open_streams\\{method="${method}"\\} (\\d+)`).exec(body);
  if (m === null) throw new Error(`no open-streams gauge for ${method} in:\n${body}`);
  return Number(m[1]);
}

async function until(what: string, check: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('clients killed mid-stream (changefeed, batch stream, flashback progress) do not crash or leak on a server process', async (t) => {
  const t0 = Date.now();
  const mark = (what: string) => t.log(`${what} at ${Date.now() - t0} ms`);
  const logs: string[] = [];
  const { child: serverProc, line } = await spawnLine('child-server.js', [TOKEN], logs);
  t.teardown(() => void serverProc.kill('SIGKILL'));
  const { endpoint, metricsPort } = JSON.parse(line) as { endpoint: string; metricsPort: number };
  const c = new FlashKvClient({ endpoint, token: TOKEN, deadlineMs: 10_000 });
  t.teardown(() => c.close());

  // 600 keys, old then new values: enough for a flashback of several batches.
  const keys = Array.from({ length: 600 }, (_, i) => b(`k:${String(i).padStart(4, '0')}`));
  const put = async (v: string) => {
    const tx = await c.begin();
    for (const k of keys) tx.put(k, b(v));
    return tx.commit();
  };
  await put('old');
  const noted = await c.getTs();
  await put('new');
  mark('seeded');

  // 1. A changefeed client that vanishes (SIGKILL) while the feed is open.
  const feed = await spawnLine('child-client.js', [endpoint, TOKEN, 'changefeed']);
  t.regex(feed.line, /^streaming /);
  t.is(openStreams(await scrape(metricsPort), 'Changefeed'), 1);
  feed.child.kill('SIGKILL');
  await once(feed.child, 'exit');
  await until('the killed feed to be dropped', async () => openStreams(await scrape(metricsPort), 'Changefeed') === 0);

  mark('feed dropped');
  // 2. A batching client (16 callers on one BatchStream) killed while its batches flow.
  const batcher = await spawnLine('child-client.js', [endpoint, TOKEN, 'batch']);
  t.regex(batcher.line, /^streaming /);
  t.is(openStreams(await scrape(metricsPort), 'BatchStream'), 1);
  batcher.child.kill('SIGKILL');
  await once(batcher.child, 'exit');
  await until('the killed batch stream to be dropped', async () => openStreams(await scrape(metricsPort), 'BatchStream') === 0);

  // 3. A flashback watcher killed at its first progress message: the stream goes, the job does not.
  const fb = await spawnLine('child-client.js', [endpoint, TOKEN, 'flashback', noted.toString()]);
  t.regex(fb.line, /^streaming /);
  fb.child.kill('SIGKILL');
  await once(fb.child, 'exit');
  await until('the flashback stream to be dropped and the job to finish', async () => {
    if (openStreams(await scrape(metricsPort), 'Flashback') !== 0) return false;
    try {
      const done = !(await c.regions()).some((r) => r.inFlashback);
      return done && s(await c.get(keys.at(-1)!, await c.getTs())) === 'old';
    } catch (e) {
      if (isKvError(e, 'FLASHBACK_IN_PROGRESS')) return false;
      throw e;
    }
  });
  mark('flashback done');
  const pairs = await c.scan({ ts: await c.getTs(), limit: 1000 });
  t.is(pairs.length, 600);
  t.true(pairs.every((p) => s(p.value) === 'old'));

  // The server process is alive and serving; the disconnects were logged as CANCELLED, not errors.
  t.is(serverProc.exitCode, null);
  t.true((await new FlashKvClient({ endpoint, token: TOKEN }).getTs()) > 0n);
  const lines = logs.join('').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  t.true(lines.some((l) => l['method'] === 'Changefeed' && l['code'] === 'CANCELLED'), logs.join(''));
  t.false(lines.some((l) => (l['level'] as number) >= 50), logs.join(''));

  // SIGTERM: graceful stop, exit 0.
  c.close();
  serverProc.kill('SIGTERM');
  const [code] = (await once(serverProc, 'exit')) as [number | null];
  t.is(code, 0, logs.join(''));
  t.true(logs.join('').includes('flashkv server stopped'));
});
