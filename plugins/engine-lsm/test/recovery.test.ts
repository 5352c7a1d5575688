import test from 'ava';
import { join } from 'node:path';
import { isKvError, WriteBatch } from '@flashkv/core';
import { LsmEngine } from '../src/engine.js';
import { nodeFS } from '../src/fs.js';
import { dec, enc, mustTempDir } from './helpers.js';

async function mustFilledDir(t: { teardown(fn: () => void): void }) {
  const { dir, cleanup } = mustTempDir('recovery');
  t.teardown(cleanup);
  const engine = await LsmEngine.open({ dir });
  for (let i = 0; i < 200; i++) await engine.write(new WriteBatch().put('default', enc(`k${i}`), new Uint8Array(100).fill(i)));
  await engine.flush();
  await engine.close();
  return dir;
}

function mustRewrite(path: string, change: (b: Uint8Array) => Uint8Array): void {
  const bytes = change(nodeFS.readFile(path).slice());
  const f = nodeFS.create(path);
  f.append(bytes);
  f.close();
}

test('CURRENT naming a missing manifest fails open with CorruptedError', async (t) => {
  const dir = await mustFilledDir(t);
  const f = nodeFS.create(join(dir, 'CURRENT'));
  f.append(enc('MANIFEST-999999\n'));
  f.close();
  const err = await t.throwsAsync(() => LsmEngine.open({ dir }));
  t.true(isKvError(err, 'CORRUPTED'));
  t.regex(err!.message, /CURRENT names MANIFEST-999999, which does not exist/);
});

test('a torn manifest tail (crash during an edit append) is ignored; the data before it is intact', async (t) => {
  const dir = await mustFilledDir(t);
  const manifest = new TextDecoder().decode(nodeFS.readFile(join(dir, 'CURRENT'))).trim();
  mustRewrite(join(dir, manifest), (b) => {
    const out = new Uint8Array(b.length + 10);
    out.set(b);
    out.set([1, 2, 3, 4, 200, 0, 1, 9, 9, 9], b.length); // a chunk header promising 200 bytes
    return out;
  });
  const engine = await LsmEngine.open({ dir });
  t.is(engine.get('default', enc('k42'))![0], 42);
  await engine.close();
});

test('a damaged SST block surfaces as CorruptedError from get and iteration, not as wrong data', async (t) => {
  const dir = await mustFilledDir(t);
  const sst = nodeFS.readdir(dir).find((n) => n.endsWith('.sst'))!;
  mustRewrite(join(dir, sst), (b) => {
    b[50] ^= 0x80;
    return b;
  });
  const engine = await LsmEngine.open({ dir });
  const err = t.throws(() => {
    for (let i = 0; i < 200; i++) engine.get('default', enc(`k${i}`));
  });
  t.true(isKvError(err, 'CORRUPTED'));
  t.regex(err!.message, new RegExp(`${sst}: block checksum mismatch`));
  const it = engine.iterator('default');
  t.true(isKvError(t.throws(() => {
    for (let ok = it.first(); ok; ok = it.next());
  }), 'CORRUPTED'));
  it.close();
  // Undamaged keys in other blocks still read correctly.
  t.is(dec(engine.get('write', enc('nothing'))), undefined);
  await engine.close();
});
