import test from 'ava';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mustRun, mustServe, TOKEN } from './helpers.js';

test('serve --cluster 3: three raft stores on engine-lsm; writes, flashback and a restart that keeps every acknowledged write', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'flashkv-cli-cluster-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  let node = await mustServe(['--cluster', '3', '--data', dir]);
  t.teardown(() => node.stop('SIGKILL').then(() => undefined));
  t.regex(node.output(), /raft, 3 stores in this process/);
  t.deepEqual(readdirSync(dir).sort(), ['store-1', 'store-2', 'store-3'], 'each store has its own engine directory');
  let env = { FLASHKV_ENDPOINT: node.endpoint, FLASHKV_TOKEN: TOKEN };

  t.is((await mustRun(['txn', 'put k:1 one', 'put k:2 two'], env)).code, 0);
  // The region list names every peer's store address (all this one node's) and marks the leader.
  const regions = await mustRun(['regions', '--json'], env);
  const [region] = JSON.parse(regions.stdout) as Array<{ peers: string; leader: string }>;
  t.is(region!.leader, node.endpoint);
  t.is(region!.peers.split(',').filter((p) => p.includes(`(${node.endpoint})`)).length, 3);
  t.is(region!.peers.split('*').length, 2, 'exactly one peer is marked leader');
  // An admin split goes through raft; both halves are served.
  const split = await mustRun(['split', 'k:2'], env);
  t.is(split.code, 0, split.stderr);
  t.regex(split.stdout, /^split at "k:2": region \d+ \[-inf, [0-9a-f]+\) and region 1 \[[0-9a-f]+, \+inf\), epoch version 2\n$/);
  const tso = (await mustRun(['tso'], env)).stdout.trim();
  t.regex(tso, /^\d+$/);
  const bad = await mustRun(['txn', 'put k:1 BAD', 'delete k:2', 'put k:3 three'], env);
  t.is(bad.code, 0, bad.stderr);
  const fb = await mustRun(['flashback', '--to-tso', tso], env);
  t.is(fb.code, 0, fb.stderr);
  t.regex(fb.stdout, /done: version \d+, 2 regions, 3 keys rewritten/);
  const back = await mustRun(['scan', '--json'], env);
  t.deepEqual(JSON.parse(back.stdout), [{ key: 'k:1', value: 'one' }, { key: 'k:2', value: 'two' }]);

  t.is(await node.stop('SIGINT'), 0);
  node = await mustServe(['--cluster', '3', '--data', dir]);
  env = { FLASHKV_ENDPOINT: node.endpoint, FLASHKV_TOKEN: TOKEN };
  const after = await mustRun(['scan', '--json'], env);
  t.is(after.code, 0, after.stderr);
  t.deepEqual(JSON.parse(after.stdout), [{ key: 'k:1', value: 'one' }, { key: 'k:2', value: 'two' }], 'the restarted cluster serves the same rows');
  const old = await mustRun(['get', 'k:1', '--ts', tso], env);
  t.is(old.stdout, 'one\n');
});

test('serve --cluster rejects a bad store count with a usage error', async (t) => {
  const r = await mustRun(['serve', '--cluster', 'three', '--memory']);
  t.is(r.code, 2);
  t.is(r.stderr, 'flashkv: --cluster must be a store count from 1 to 9, got "three"\n');
});
