import test from 'ava';
import { join } from 'node:path';
import { FaultFS } from '../src/fault-fs.js';
import { nodeFS, readFully } from '../src/fs.js';
import { mustTempDir } from './helpers.js';

test('NodeFS: create, append, sync, read, rename, readdir, truncate, unlink', async (t) => {
  const { dir, cleanup } = mustTempDir('fs');
  t.teardown(cleanup);
  const p = join(dir, 'a');
  const f = nodeFS.create(p);
  f.append(new Uint8Array([1, 2, 3]));
  f.append(new Uint8Array([4]));
  await f.sync();
  t.is(f.size(), 4);
  f.close();
  const g = nodeFS.openAppend(p);
  t.is(g.size(), 4);
  g.append(new Uint8Array([5]));
  g.close();
  const r = nodeFS.open(p);
  t.is(r.size, 5);
  const buf = new Uint8Array(10);
  t.is(readFully(r, buf, 10, 1), 4);
  t.deepEqual([...buf.subarray(0, 4)], [2, 3, 4, 5]);
  r.close();
  nodeFS.rename(p, join(dir, 'b'));
  await nodeFS.syncDir(dir);
  t.deepEqual(nodeFS.readdir(dir), ['b']);
  nodeFS.truncate(join(dir, 'b'), 2);
  t.deepEqual([...nodeFS.readFile(join(dir, 'b'))], [1, 2]);
  nodeFS.unlink(join(dir, 'b'));
  t.false(nodeFS.exists(join(dir, 'b')));
});

test('FaultFS: short write lands a prefix then throws EIO, once', (t) => {
  const { dir, cleanup } = mustTempDir('fs');
  t.teardown(cleanup);
  const fs = new FaultFS(nodeFS);
  const f = fs.create(join(dir, 'x'));
  fs.plan.shortWrite = { bytes: 2 };
  t.throws(() => f.append(new Uint8Array([1, 2, 3, 4])), { message: /EIO/ });
  f.append(new Uint8Array([9]));
  f.close();
  t.deepEqual([...nodeFS.readFile(join(dir, 'x'))], [1, 2, 9]);
  t.is(fs.fired.shortWrite, 1);
});

test('FaultFS: ENOSPC writes what fits; fsync failure; match limits faults', async (t) => {
  const { dir, cleanup } = mustTempDir('fs');
  t.teardown(cleanup);
  const fs = new FaultFS(nodeFS);
  fs.plan = { spaceLeft: 3, match: (p) => p.endsWith('.log') };
  const other = fs.create(join(dir, 'y.sst'));
  other.append(new Uint8Array(10));
  other.close();
  const f = fs.create(join(dir, 'x.log'));
  f.append(new Uint8Array([1, 2]));
  const err = t.throws(() => f.append(new Uint8Array([3, 4, 5])));
  t.is((err as NodeJS.ErrnoException).code, 'ENOSPC');
  t.throws(() => fs.create(join(dir, 'z.log')), { message: /ENOSPC/ });
  fs.plan = { failSync: true };
  await t.throwsAsync(() => f.sync(), { message: /EIO: .*fsync/ });
  f.close();
  t.deepEqual([...nodeFS.readFile(join(dir, 'x.log'))], [1, 2, 3]);
  t.is(fs.fired.enospc, 2);
  t.is(fs.fired.failSync, 1);
});
