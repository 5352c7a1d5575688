import test from 'ava';
import { mustRun } from './helpers.js';

test('flashkv demo runs the story to completion: rows back after flashback, and the flashback undone', async (t) => {
  const r = await mustRun(['demo']);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /serving gRPC on 127\.0\.0\.1:\d+/);
  t.regex(r.stdout, /preview: 3 keys to rewrite \(1 updated, 1 deleted, 1 restored\)/);
  t.regex(r.stdout, /5\. The rows are back as they were\n {2}rows:\n {4}user:1 = Ada Lovelace\n {4}user:2 = Alan Turing\n {4}user:3 = Grace Hopper\n {2}identical to step 1: yes\n/);
  // The change feed saw the flashback as TiKV's CDC does: 1PC rows, then the commit of the prepared lock.
  t.regex(r.stdout, /6\. What the change feed[^\n]*\n {4}committed user:3: put Grace Hopper\n {4}committed user:4: delete\n {4}commit {4}user:1: put Ada Lovelace\n {2}3 rows at the flashback's commit ts \d+: 2 written as 1PC \(committed\), 1 as the commit of the key locked at prepare: yes\n/);
  t.regex(r.stdout, /identical to step 3: yes\n/);
  t.notRegex(r.stdout, /\bNO\b/);
});
