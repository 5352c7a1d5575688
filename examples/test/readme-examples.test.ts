import test from 'ava';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../', import.meta.url));

/** The code block under a README heading. */
function block(file: string, heading: string): string {
  const text = readFileSync(root + file, 'utf8');
  const at = text.indexOf(`## ${heading}`);
  if (at < 0) throw new Error(`${file} has no heading "${heading}"`);
  const m = /```ts\n([\s\S]*?)```/.exec(text.slice(at));
  if (!m) throw new Error(`${file}: no ts block under "${heading}"`);
  return m[1]!;
}

test('the README\'s "Composing a build in code" block is examples/compose.ts, and it runs', (t) => {
  t.is(block('README.md', 'Composing a build in code'), readFileSync(root + 'examples/compose.ts', 'utf8'));
  const r = spawnSync(process.execPath, [root + 'examples/dist/compose.js'], { encoding: 'utf8', timeout: 60_000 });
  t.is(r.status, 0, r.stderr);
  // The snapshot read prints the Write record: Put (0x50), start_ts 90 (0x5a), 'v', 3 bytes "ada".
  t.regex(r.stdout, /Uint8Array\(7\) \[\s*80,\s*90,\s*118,\s*3,\s*97,\s*100,\s*97\s*\]/);
});
