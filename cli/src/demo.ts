import { randomBytes } from 'node:crypto';
import { defaultTxnPlugins, Kernel } from '@flashkv/core';
import { memoryEngine } from '@flashkv/engine-memory';
import { flashback } from '@flashkv/flashback';
import { cdc, type CdcEvent } from '@flashkv/cdc';
import { FlashKvClient, SERVER, server, type RemoteFlashbackProgress } from '@flashkv/server';

const te = new TextEncoder();
const td = new TextDecoder();

/**
 * `flashkv demo`: the seed story (issue 7 item 4) on a fresh in-memory node, every step going
 * through the gRPC server as a remote user's would: rows, a noted time, a bad deploy, flashback
 * to the noted time, the rows back, what a change feed opened before step 1 saw of it, and the
 * flashback undone by a second flashback. Resolves the process exit code.
 */
export async function demo(say: (line?: string) => void, progress: (p: RemoteFlashbackProgress) => void = () => undefined): Promise<number> {
  const token = randomBytes(12).toString('base64url');
  const kernel = await Kernel.start({ plugins: [memoryEngine(), ...defaultTxnPlugins(), flashback({ resumeOnStart: false }), cdc({ tickMs: 50 }), server({ listen: '127.0.0.1:0', token })] });
  const endpoint = kernel.resolve(SERVER).address!;
  const c = new FlashKvClient({ endpoint, token });
  const feedStop = new AbortController();
  const feed: CdcEvent[] = [];
  let feedError: unknown;
  let feedDone: Promise<void> = Promise.resolve();
  try {
    // A change feed over the demo's rows, opened before anything is written; read in the background.
    const feedFrom = await c.getTs();
    const rowsStart = te.encode('user:');
    const rowsEnd = te.encode('user;');
    feedDone = (async () => {
      try {
        for await (const e of c.changefeed({ startTs: feedFrom, startKey: rowsStart, endKey: rowsEnd }, feedStop.signal)) feed.push(e);
      } catch (e) {
        feedError = e;
      }
    })();
    /** Waits, boundedly, until the feed's global resolved ts has passed `ts`: every commit at or below it has arrived. */
    const feedReached = async (ts: bigint): Promise<void> => {
      const deadline = Date.now() + 10_000;
      while (!feed.some((e) => e.type === 'globalResolvedTs' && e.ts >= ts)) {
        if (feedError !== undefined) throw feedError;
        if (Date.now() > deadline) throw new Error(`the change feed did not reach ts ${ts} within 10 s`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    const write = async (rows: Array<[string, string | null]>): Promise<bigint> => {
      const tx = await c.begin();
      for (const [k, v] of rows) {
        if (v === null) tx.delete(te.encode(k));
        else tx.put(te.encode(k), te.encode(v));
      }
      return tx.commit();
    };
    const show = async (title: string): Promise<string[]> => {
      const pairs = await c.scan({ ts: await c.getTs(), start: te.encode('user:'), end: te.encode('user;') });
      const rows = pairs.map((p) => `${td.decode(p.key)} = ${td.decode(p.value)}`);
      say(`  ${title}:`);
      for (const r of rows) say(`    ${r}`);
      if (rows.length === 0) say('    (none)');
      return rows;
    };
    /** Waits, boundedly, until the TSO's physical ms is past `at`, so later writes are after it. */
    const after = async (at: Date): Promise<void> => {
      for (let i = 0; (await c.getTs()) >> 18n <= BigInt(at.getTime()); i++) {
        if (i > 10_000) throw new Error('the TSO did not advance');
      }
    };

    say(`FlashKV demo: a fresh in-memory node serving gRPC on ${endpoint}; every step below is a client call.`);
    say();
    say('1. Create a few rows');
    const created = await write([['user:1', 'Ada Lovelace'], ['user:2', 'Alan Turing'], ['user:3', 'Grace Hopper']]);
    const good = await show('rows');
    // The TSO may run ahead of the wall clock; the noted instant must follow the rows' commit.
    const noted = new Date(Math.max(Date.now(), Number(created >> 18n)) + 1);
    await after(noted);
    say();
    say(`2. Note the time: ${noted.toISOString()}`);
    say();
    say('3. A bad deploy: insert a row, update one, delete one');
    await write([['user:4', 'Mallory (should not exist)']]);
    await write([['user:1', 'CORRUPTED BY DEPLOY'], ['user:3', null]]);
    const bad = await show('rows now');
    const beforeUndo = await c.getTs();
    say();
    say(`4. Preview, then flashback to ${noted.toISOString()}`);
    const pv = await c.flashbackPreview({ time: noted });
    say(`  preview: ${pv.keysToRewrite} keys to rewrite (${pv.toUpdate} updated, ${pv.toDelete} deleted, ${pv.toRestore} restored)`);
    const done = await c.flashback({ time: noted }, progress);
    say(`  done: job ${done.jobId}, ${done.regionsFinished} region(s), ${done.keysRewritten} keys rewritten at commit ts ${done.commitTs}`);
    say();
    say('5. The rows are back as they were');
    const restored = await show('rows');
    const same = restored.join('\n') === good.join('\n');
    say(`  identical to step 1: ${same ? 'yes' : 'NO'}`);
    say();
    say('6. What the change feed (opened before step 1) saw of the flashback');
    await feedReached(done.commitTs);
    const fbRows = feed.filter((e): e is Extract<CdcEvent, { commitTs: bigint }> => (e.type === 'commit' || e.type === 'committed') && e.commitTs === done.commitTs);
    for (const e of fbRows) {
      const what = e.op === 'delete' ? 'delete' : `put ${td.decode(e.value ?? new Uint8Array())}`;
      say(`    ${e.type.padEnd(9)} ${td.decode(e.key)}: ${what}`);
    }
    const oneCommit = fbRows.filter((e) => e.type === 'commit').length === 1;
    const feedOk = fbRows.length === 3 && oneCommit;
    say(`  ${fbRows.length} rows at the flashback's commit ts ${done.commitTs}: ${fbRows.length - 1} written as 1PC (committed), 1 as the commit of the key locked at prepare: ${feedOk ? 'yes' : 'NO'}`);
    say();
    say(`7. Undo the flashback: flash back again, to ts ${beforeUndo} (just before step 4)`);
    await c.flashback({ version: beforeUndo }, progress);
    const undone = await show('rows');
    const undoneOk = undone.join('\n') === bad.join('\n');
    say(`  identical to step 3: ${undoneOk ? 'yes' : 'NO'}`);
    say();
    say('The same from a shell: flashkv serve --memory, then flashkv put / tso / flashback --to-tso N / get.');
    return same && undoneOk && feedOk ? 0 : 1;
  } finally {
    feedStop.abort();
    await feedDone;
    c.close();
    await kernel.stop();
  }
}
