import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mustRun, mustServe, TOKEN } from './helpers.js';

test('bad input: one line on stderr and a non-zero exit', async (t) => {
  const env = { FLASHKV_ENDPOINT: '127.0.0.1:1', FLASHKV_TOKEN: TOKEN };
  const both = await mustRun(['flashback'], env);
  t.is(both.code, 2);
  t.is(both.stderr, 'flashkv: give exactly one of --to <time> and --to-tso <tso>\n');
  const badTime = await mustRun(['flashback', '--to', 'yesterday'], env);
  t.is(badTime.code, 2);
  t.regex(badTime.stderr, /^flashkv: time "yesterday" is not 'YYYY-MM-DD HH:MM:SS'\n$/);
  const badTso = await mustRun(['flashback', '--to-tso', '-5'], env);
  t.is(badTso.code, 2);
  const noServer = await mustRun(['tso'], env);
  t.is(noServer.code, 1);
  t.regex(noServer.stderr, /^flashkv: UNAVAILABLE: .*is `flashkv serve` running/);
  t.is(noServer.stderr.trim().split('\n').length, 1);
  const policy = await mustRun(['flashback', '--to-tso', '5', '--lock-policy', 'bogus'], env);
  t.is(policy.code, 1);
  t.regex(policy.stderr, /argument 'bogus' is invalid\. Allowed choices are rollback, resolve/);
  const usage = await mustRun(['put', 'only-key'], env);
  t.is(usage.code, 1);
  t.regex(usage.stderr, /missing required argument 'value'/);
});

test('--help on every command shows examples', async (t) => {
  for (const cmd of ['serve', 'demo', 'txn', 'put', 'get', 'delete', 'scan', 'tso', 'regions', 'flashback', 'changefeed', 'bench', 'split', 'gc-safe-point', 'gc']) {
    const h = await mustRun([cmd, '--help']);
    t.is(h.code, 0, cmd);
    t.regex(h.stdout, new RegExp(`Usage: flashkv ${cmd}`), cmd);
    t.regex(h.stdout, /Examples:\n {2}\$ flashkv /, cmd);
  }
  const top = await mustRun(['--help']);
  t.regex(top.stdout, /Commands:[\s\S]*flashback[\s\S]*changefeed/);
});

test('bench lists the suites from the bench package and refuses bad numbers', async (t) => {
  const list = await mustRun(['bench', '--list']);
  t.is(list.code, 0, list.stderr);
  const suites = list.stdout.trim().split('\n');
  for (const s of ['codec', 'engine-lsm', 'engine-memory', 'txn', 'flashback', 'cdc']) t.true(suites.includes(s), s);
  const bad = await mustRun(['bench', 'codec', '--scale', 'big']);
  t.is(bad.code, 2);
  t.is(bad.stderr, 'flashkv: --scale must be a positive number, got "big"\n');
  const unknown = await mustRun(['bench', 'no-such-suite']);
  t.is(unknown.code, 2);
  t.regex(unknown.stderr, /unknown suite "no-such-suite"; available: .*codec/);
});

test('serve --data keeps data across a restart (engine-lsm), SIGTERM stops it', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'flashkv-cli-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const first = await mustServe(['--data', dir]);
  t.regex(first.output(), /engine: lsm, data in /);
  const put = await mustRun(['put', 'durable', 'yes', '--endpoint', first.endpoint, '--token', TOKEN]);
  t.is(put.code, 0, put.stderr);
  t.is(await first.stop('SIGTERM'), 0);
  const second = await mustServe(['--data', dir]);
  t.teardown(() => second.stop('SIGKILL').then(() => undefined));
  const got = await mustRun(['get', 'durable', '--endpoint', second.endpoint, '--token', TOKEN]);
  t.is(got.stdout, 'yes\n', got.stderr);
  t.is(await second.stop('SIGINT'), 0);
});
