import test from 'ava';
import { mustRun } from './helpers.js';

test('flashkv demo runs the story to completion: rows back after flashback, and the flashback undone', async (t) => {
  const r = await mustRun(['demo']);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /serving gRPC on 127\.0\.0\.1:\d+/);
  t.regex(r.stdout, /preview: 3 keys to rewrite \(1 updated, 1 deleted, 1 restored\)/);
  t.regex(r.stdout, /5\. The rows are back as they were\n {2}rows:\n {4}user:1 = Ada Lovelace\n {4}user:2 = Alan Turing\n {4}user:3 = Grace Hopper\n {2}identical to step 1: yes\n/);
  t.regex(r.stdout, /identical to step 3: yes\n/);
  t.notRegex(r.stdout, /\bNO\b/);
});
