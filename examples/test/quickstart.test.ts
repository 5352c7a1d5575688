import test from 'ava';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const script = fileURLToPath(new URL('../quickstart.js', import.meta.url));

function runTour(env: NodeJS.ProcessEnv) {
  return spawnSync(process.execPath, [script], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });
}

for (const kind of ['wasm', 'js'] as const) {
  test(`the npm run tour walk-through runs to completion on the ${kind} hot path and shows what it claims`, (t) => {
    const r = runTour({ FLASHKV_HOTPATH: kind });
    t.is(r.status, 0, r.stderr);
    t.regex(r.stdout, new RegExp(`hot path: ${kind}`));
    t.regex(r.stdout, /plugins started in dependency order: .*engine-memory.*asm|plugins started in dependency order: .*asm.*engine-memory/);
    // The worked example of FORMATS.md's shape: 'z' + encodeBytes("user:ada") + ~100.
    t.regex(r.stdout, /write-CF key of user:ada@100 +7a757365723a616461ff0000000000000000f7ffffffffffffff9b/);
    const row = (u: string) => r.stdout.split('\n').find((l) => l.trimStart().startsWith(u))!.trim().split(/\s{2,}/);
    t.deepEqual(row('user:ada'), ['user:ada', 'CORRUPTED BY DEPLOY', 'Ada Lovelace', 'Ada Lovelace']);
    t.deepEqual(row('user:grace'), ['user:grace', '(deleted)', 'Grace Hopper', 'Grace Hopper']);
    t.deepEqual(row('user:alan'), ['user:alan', 'Alan Turing', 'Alan Turing', 'Alan Turing']);
    t.regex(r.stdout, /256 keys, .* bytes/);
    t.regex(r.stdout, /same bytes as codec\.dataKey\(appendTs\(encodeBytes\(raw\), ts\)\): true/);
  });
}

test('a bad FLASHKV_HOTPATH stops the tour with a clear error and a non-zero exit', (t) => {
  const r = runTour({ FLASHKV_HOTPATH: 'gpu' });
  t.not(r.status, 0);
  t.regex(r.stderr, /^flashkv quick start failed: .*FLASHKV_HOTPATH.*gpu/);
  t.is(r.stderr.trim().split('\n').length, 1, 'one line, no stack trace');
});
