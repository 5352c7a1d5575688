import test from 'ava';
import { mustRun, mustServe, TOKEN } from './helpers.js';

test('a served node driven by the CLI: put, get, delete, scan, tso, regions, flashback round trip, SIGINT', async (t) => {
  const node = await mustServe(['--memory']);
  t.teardown(() => node.stop('SIGKILL').then(() => undefined));
  t.regex(node.output(), /export FLASHKV_ENDPOINT=127\.0\.0\.1:\d+ FLASHKV_TOKEN=cli-test-token/);
  const env = { FLASHKV_ENDPOINT: node.endpoint, FLASHKV_TOKEN: TOKEN };

  // Kept to few spawns (each is a Node start): the txn file covers txn, auth and more gets.
  const created = await mustRun(['txn', 'put user:1 Ada', 'put user:2 Alan'], env);
  t.is(created.code, 0, created.stderr);
  const noted = await mustRun(['tso'], env);
  t.is(noted.code, 0);
  t.regex(noted.stdout, /^\d+\n$/);
  const tso = noted.stdout.trim();

  const put = await mustRun(['put', 'user:1', 'CORRUPTED'], env);
  t.is(put.code, 0, put.stderr);
  t.regex(put.stdout, /^committed at ts \d+\n$/);
  t.true(BigInt(/\d+/.exec(put.stdout)![0]) > BigInt(tso));
  const del = await mustRun(['delete', 'user:2'], env);
  t.is(del.code, 0, del.stderr);
  t.regex(del.stdout, /^committed at ts \d+\n$/);
  t.is((await mustRun(['put', 'user:3', 'Grace'], env)).code, 0);
  const gone = await mustRun(['get', 'user:2'], env);
  t.is(gone.code, 1);
  t.is(gone.stdout, '');
  t.is(gone.stderr, 'flashkv: key "user:2" not found\n');
  const asOf = await mustRun(['get', 'user:2', '--ts', tso], env);
  t.is(asOf.stdout, 'Alan\n', 'an old version is readable at the noted ts');

  const scan = await mustRun(['scan', '--json'], env);
  t.is(scan.code, 0);
  t.deepEqual(JSON.parse(scan.stdout), [{ key: 'user:1', value: 'CORRUPTED' }, { key: 'user:3', value: 'Grace' }]);
  const ranged = await mustRun(['scan', '--start', 'user:2', '--end', 'user:9', '--limit', '5'], env);
  t.regex(ranged.stdout, /^KEY\s+VALUE\nuser:3\s+Grace\n\(1 rows at ts \d+\)\n$/);

  const regions = await mustRun(['regions', '--json'], env);
  t.is(regions.code, 0);
  const rs = JSON.parse(regions.stdout) as Array<{ id: number; start: string; end: string; inFlashback: boolean }>;
  t.is(rs.length, 1);
  t.like(rs[0], { start: '', end: '', inFlashback: false });

  const preview = await mustRun(['flashback', '--to-tso', tso, '--preview'], env);
  t.is(preview.code, 0, preview.stderr);
  t.regex(preview.stdout, /3 keys to rewrite — 1 updated, 1 deleted, 1 restored/);
  t.is((await mustRun(['get', 'user:1'], env)).stdout, 'CORRUPTED\n', 'preview changed nothing');

  const fb = await mustRun(['flashback', '--to-tso', tso], env);
  t.is(fb.code, 0, fb.stderr);
  t.regex(fb.stdout, new RegExp(`flashback \\S+ done: version ${tso}, 1 regions, 3 keys rewritten`));
  const after = await mustRun(['scan', '--json'], env);
  t.deepEqual(JSON.parse(after.stdout), [{ key: 'user:1', value: 'Ada' }, { key: 'user:2', value: 'Alan' }], 'updated, deleted and inserted keys are as they were');

  t.is(await node.stop('SIGINT'), 0, 'SIGINT stops the node cleanly');
  t.regex(node.output(), /SIGINT: stopping\nflashkv stopped\n/);
});

