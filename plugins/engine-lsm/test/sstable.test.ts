import test from 'ava';
import { join } from 'node:path';
import { isKvError } from '@flashkv/core';
import { putU32 } from '../src/coding.js';
import { crc32c, maskCrc } from '../src/crc32c.js';
import { nodeFS } from '../src/fs.js';
import { compareInternal, KIND_DELETE, KIND_PUT } from '../src/keys.js';
import { BlockCache } from '../src/sstable/block-cache.js';
import { bloomHash, bloomMayContain, buildBloom } from '../src/sstable/bloom.js';
import { TableReader } from '../src/sstable/table-reader.js';
import { TableWriter } from '../src/sstable/table-writer.js';
import { mustTempDir, randomBytes, rng, testSeed } from './helpers.js';

interface E {
  key: Uint8Array;
  seq: number;
  kind: number;
  value: Uint8Array;
}

function mustEntries(seed: number, n: number): E[] {
  const r = rng(seed);
  const out: E[] = [];
  const seen = new Set<string>();
  while (out.length < n) {
    const key = randomBytes(r, 1 + Math.floor(r() * 12));
    key[0] = Math.floor(r() * 4);
    const seq = 1 + Math.floor(r() * 1e12);
    const id = `${Buffer.from(key).toString('hex')}/${seq}`;
    if (seen.has(id)) continue;
    seen.add(id);
    out.push({ key, seq, kind: r() < 0.2 ? KIND_DELETE : KIND_PUT, value: randomBytes(r, Math.floor(r() * 200)) });
    // Several versions of some keys.
    if (r() < 0.3) out.push({ key, seq: seq + 1 + Math.floor(r() * 1000), kind: KIND_PUT, value: randomBytes(r, 5) });
  }
  out.sort((a, b) => compareInternal(a.key, a.seq, b.key, b.seq));
  return out.filter((e, i) => i === 0 || compareInternal(e.key, e.seq, out[i - 1]!.key, out[i - 1]!.seq) !== 0);
}

function mustWriteTable(path: string, entries: E[], blockSize = 512): TableReader {
  const f = nodeFS.create(path);
  const w = new TableWriter(f, 7, { blockSize });
  for (const e of entries) w.add(e.key, e.seq, e.kind, e.value);
  const { meta } = w.finish();
  f.close();
  if (meta.entries !== entries.length) throw new Error('entry count');
  return TableReader.open(nodeFS.open(path), 7, new BlockCache(1 << 20));
}

const show = (e: { key: Uint8Array; seq: number }) => `${Buffer.from(e.key).toString('hex')}@${e.seq}`;

test('SST round trip: forward, backward, seekGE, seekLT, get at a sequence number', (t) => {
  const { dir, cleanup } = mustTempDir('sst');
  t.teardown(cleanup);
  const seed = testSeed(21);
  const entries = mustEntries(seed, 3000);
  const table = mustWriteTable(join(dir, '000007.sst'), entries);
  t.is(table.props.entries, entries.length);
  t.true(table.props.dataBlocks > 10);
  const it = table.iterator();
  const fwd: string[] = [];
  for (it.first(); it.valid(); it.next()) fwd.push(`${show({ key: it.key(), seq: it.seq() })}:${it.kind()}`);
  t.deepEqual(fwd, entries.map((e) => `${show(e)}:${e.kind}`), `seed ${seed}`);
  const back: string[] = [];
  for (it.last(); it.valid(); it.prev()) back.push(show({ key: it.key(), seq: it.seq() }));
  t.deepEqual(back, entries.map(show).reverse());
  const r = rng(seed + 1);
  for (let i = 0; i < 400; i++) {
    const probe = r() < 0.5 ? entries[Math.floor(r() * entries.length)]! : { key: randomBytes(r, 1 + Math.floor(r() * 5)), seq: Math.floor(r() * 1e12) };
    const seq = r() < 0.3 ? -1 : probe.seq;
    const ge = entries.findIndex((e) => compareInternal(e.key, e.seq, probe.key, seq) >= 0);
    it.seekGE(probe.key, seq);
    t.is(it.valid() ? show({ key: it.key(), seq: it.seq() }) : 'none', ge < 0 ? 'none' : show(entries[ge]!), `seekGE seed ${seed}`);
    const lt = (ge < 0 ? entries.length : ge) - 1;
    it.seekLT(probe.key, seq);
    t.is(it.valid() ? show({ key: it.key(), seq: it.seq() }) : 'none', lt < 0 ? 'none' : show(entries[lt]!), `seekLT seed ${seed}`);
    // get: the newest version of the key at or below seq
    const at = Math.floor(r() * 1e12);
    const want = entries.find((e) => compareInternal(e.key, 0, probe.key, 0) === 0 && e.seq <= at);
    const got = table.get(probe.key, at);
    t.is(got === undefined ? 'none' : `${got.kind}:${Buffer.from(got.value).toString('hex')}`, want === undefined ? 'none' : `${want.kind}:${Buffer.from(want.value).toString('hex')}`);
  }
  table.close();
});

test('bloom filter: no false negatives, few false positives', (t) => {
  const r = rng(testSeed(4));
  const keys = Array.from({ length: 5000 }, (_, i) => new TextEncoder().encode(`present-${i}`));
  const hashes = Uint32Array.from(keys.map(bloomHash));
  const filter = buildBloom(hashes, hashes.length, 10);
  for (const k of keys) t.true(bloomMayContain(filter, bloomHash(k)));
  let fp = 0;
  for (let i = 0; i < 10000; i++) if (bloomMayContain(filter, bloomHash(randomBytes(r, 10)))) fp++;
  t.true(fp < 300, `false positives ${fp} / 10000`);
});

test('a flipped bit in a data block is a CorruptedError naming file and offset', (t) => {
  const { dir, cleanup } = mustTempDir('sst');
  t.teardown(cleanup);
  const path = join(dir, '000007.sst');
  mustWriteTable(path, mustEntries(5, 500)).close();
  const bytes = nodeFS.readFile(path).slice();
  bytes[100] ^= 0x10;
  const f = nodeFS.create(path);
  f.append(bytes);
  f.close();
  const table = TableReader.open(nodeFS.open(path), 7, new BlockCache(1 << 20));
  const it = table.iterator();
  const err = t.throws(() => {
    for (it.first(); it.valid(); it.next());
  });
  t.true(isKvError(err, 'CORRUPTED'));
  t.regex(err!.message, /000007\.sst: block checksum mismatch at offset 0/);
  table.close();
});

test('unknown SST format version and bad magic fail clearly', (t) => {
  const { dir, cleanup } = mustTempDir('sst');
  t.teardown(cleanup);
  const path = join(dir, '000007.sst');
  mustWriteTable(path, mustEntries(6, 50)).close();
  const bytes = nodeFS.readFile(path).slice();
  const footerAt = bytes.length - 64;
  putU32(bytes, footerAt + 48, 9);
  putU32(bytes, footerAt + 52, maskCrc(crc32c(bytes, footerAt, footerAt + 52)));
  let f = nodeFS.create(path);
  f.append(bytes);
  f.close();
  const err = t.throws(() => TableReader.open(nodeFS.open(path), 7, new BlockCache(1024)));
  t.true(isKvError(err, 'INVALID_ARGUMENT'));
  t.regex(err!.message, /SST format version 9; this build reads versions 1 and 2 only/);
  bytes[bytes.length - 1] ^= 1;
  f = nodeFS.create(path);
  f.append(bytes);
  f.close();
  t.regex(t.throws(() => TableReader.open(nodeFS.open(path), 7, new BlockCache(1024)))!.message, /not an SST/);
});

test('block cache evicts least recently used blocks across tables beyond its byte budget', (t) => {
  const c = new BlockCache(100);
  const t1 = new Map();
  const t2 = new Map();
  c.set(t1, 0, new Uint8Array(40));
  c.set(t2, 0, new Uint8Array(40));
  t.truthy(c.get(t1, 0));
  c.set(t1, 4096, new Uint8Array(40));
  t.is(c.get(t2, 0), undefined, 'the least recently used block went first');
  t.is(t2.size, 0);
  t.truthy(c.get(t1, 0));
  t.truthy(c.get(t1, 4096));
  t.true(c.bytes <= 100);
  c.set(t2, 8, new Uint8Array(10));
  c.drop(t1);
  t.is(c.bytes, 10);
  t.is(t1.size, 0);
  t.truthy(c.get(t2, 8));
  c.set(t2, 9, new Uint8Array(101));
  t.is(c.get(t2, 9), undefined, 'a block larger than the cache is not kept');
});
