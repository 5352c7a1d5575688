import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mustRun, mustServe, TOKEN } from './helpers.js';

const MAIN = fileURLToPath(new URL('../src/main.js', import.meta.url));
const hex = (s: string) => Buffer.from(s).toString('hex');

interface Line {
  type: string;
  key?: string;
  op?: string;
  value?: string;
  ts?: string;
  commitTs?: string;
}

const parse = (out: string): Line[] =>
  out
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Line);
const rowsOf = (lines: Line[]) => lines.filter((l) => l.type !== 'resolvedTs' && l.type !== 'globalResolvedTs').map((l) => `${l.type} ${l.key} ${l.op} ${l.value ?? '-'}`);

test('changefeed: --max-events while puts run, --until-ts to an appended --out file, SIGINT stops it with exit 0', async (t) => {
  const node = await mustServe(['--memory']);
  t.teardown(() => node.stop('SIGKILL').then(() => undefined));
  const env = { FLASHKV_ENDPOINT: node.endpoint, FLASHKV_TOKEN: TOKEN };
  const startTs = (await mustRun(['tso'], env)).stdout.trim();
  t.regex(startTs, /^\d+$/);

  // The feed runs beside the writers; four row events (RemoteTxn commits by 1PC: `committed`).
  const feed = mustRun(['changefeed', '--start-ts', startTs, '--max-events', '4'], env);
  t.is((await mustRun(['put', 'a', '1'], env)).code, 0);
  t.is((await mustRun(['put', 'b', '2'], env)).code, 0);
  const txn = await mustRun(['txn', 'put c 3', 'delete a'], env);
  t.is(txn.code, 0, txn.stderr);
  const ran = await feed;
  t.is(ran.code, 0, ran.stderr);
  t.is(ran.stderr, '');
  const expected = [`committed ${hex('a')} put ${hex('1')}`, `committed ${hex('b')} put ${hex('2')}`, `committed ${hex('a')} delete -`, `committed ${hex('c')} put ${hex('3')}`];
  t.deepEqual(rowsOf(parse(ran.stdout)).sort(), [...expected].sort());

  // --until-ts: stops at the first global resolved ts at or past it, so every commit below is in the file.
  const dir = await mkdtemp(join(tmpdir(), 'flashkv-cf-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'feed.jsonl');
  const until = (await mustRun(['tso'], env)).stdout.trim();
  for (let round = 1; round <= 2; round++) {
    const r = await mustRun(['changefeed', '--start-ts', startTs, '--until-ts', until, '--out', file, '--start', 'b', '--end', 'z'], env);
    t.is(r.code, 0, r.stderr);
    t.is(r.stdout, '', 'nothing on stdout with --out');
    const lines = parse(await readFile(file, 'utf8'));
    t.is(rowsOf(lines).length, 2 * round, 'appended, and only keys in [b, z)');
    const last = lines.at(-1)!;
    t.is(last.type, 'globalResolvedTs');
    t.true(BigInt(last.ts!) >= BigInt(until));
  }

  // Ctrl-C: the feed is open with nothing to stop it but the signal.
  const child = spawn(process.execPath, [MAIN, 'changefeed', '--start-ts', startTs], { env: { PATH: process.env['PATH'] ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => {
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      // Signalled once a checkpoint line is out, so the resume hint has a ts to name.
      if (/globalResolvedTs/.test(stdout) && child.exitCode === null && !child.killed) child.kill('SIGINT');
    });
    child.on('close', (c) => resolve(c));
  });
  clearTimeout(killer);
  t.is(code, 0, stderr);
  t.is(rowsOf(parse(stdout)).length, 4);
  t.regex(stderr, /^flashkv: changefeed stopped by SIGINT; resume with --start-ts \d+\n$/);

  const bad = await mustRun(['changefeed', '--start-ts', 'soon'], env);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /--start-ts must be a non-negative integer/);
  t.is(await node.stop('SIGINT'), 0);
});
