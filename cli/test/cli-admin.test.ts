import test from 'ava';
import { mustRun, mustServe, TOKEN } from './helpers.js';

test('admin from the CLI: split <key>, regions, gc-safe-point (get, --set, refused backwards), gc, one-line errors', async (t) => {
  const node = await mustServe(['--memory']);
  t.teardown(() => node.stop('SIGKILL').then(() => undefined));
  const env = { FLASHKV_ENDPOINT: node.endpoint, FLASHKV_TOKEN: TOKEN };

  t.is((await mustRun(['txn', 'put a 1', 'put m 2', 'put z 3'], env)).code, 0);
  const split = await mustRun(['split', 'm', '--json'], env);
  t.is(split.code, 0, split.stderr);
  const halves = JSON.parse(split.stdout) as { left: { end: string; version: number }; right: { start: string; version: number } };
  t.is(halves.left.end, halves.right.start);
  t.is(halves.left.version, 2);
  const again = await mustRun(['split', 'm'], env);
  t.is(again.code, 1);
  t.regex(again.stderr, /^flashkv: INVALID_ARGUMENT: key "m" is already a region boundary \(region \d+ starts there\)\n$/);

  const zero = await mustRun(['gc-safe-point'], env);
  t.is(zero.stdout, '0\n');
  t.is((await mustRun(['put', 'a', 'again'], env)).code, 0);
  const tso = (await mustRun(['tso'], env)).stdout.trim();
  const set = await mustRun(['gc-safe-point', '--set', tso], env);
  t.is(set.code, 0, set.stderr);
  t.is(set.stdout, `${tso}\n`);
  const back = await mustRun(['gc-safe-point', '--set', '5'], env);
  t.is(back.code, 1);
  t.is(back.stderr, `flashkv: INVALID_ARGUMENT: GC safe point 5 is behind the current one ${tso}; the safe point never moves back\n`);
  const json = await mustRun(['gc-safe-point', '--json'], env);
  t.deepEqual(JSON.parse(json.stdout), { safePoint: tso, paused: false, pausedBy: [] });

  const gc = await mustRun(['gc'], env);
  t.is(gc.code, 0, gc.stderr);
  t.is(gc.stdout, `GC at ${tso}: 3 keys looked at, 1 old versions deleted\n`);
  t.is((await mustRun(['get', 'a'], env)).stdout, 'again\n');
  const denied = await mustRun(['split', 'q'], { ...env, FLASHKV_TOKEN: 'wrong' });
  t.is(denied.code, 1);
  t.regex(denied.stderr, /^flashkv: UNAUTHENTICATED: .*\n$/);
});
