// The code tour that `npm run tour` runs: compose a build from plugins, write TiKV-encoded
// MVCC rows, and watch snapshot isolation and the hot path at work.
import 'reflect-metadata';
import { codec, ENGINE, HOTPATH, Kernel, packBatch, WriteBatch, type EngineReader } from '@flashkv/core';
import { memoryEngine } from '@flashkv/engine-memory';
import { hotPath } from '@flashkv/asm';

const text = new TextEncoder();
const words = new TextDecoder();
const say = (s = '') => console.log(s);

/** The newest committed value of `user` as of `ts` (Puts and Deletes only, as an MVCC read does). */
function readAt(reader: EngineReader, user: string, ts: bigint): string | undefined {
  const encoded = codec.encodeBytes(text.encode(user));
  // Versions of one key sort newest first; seeking to key@ts lands on the newest version <= ts.
  const it = reader.iterator('write', { lower: codec.dataKey(encoded), upper: codec.dataKey(codec.appendTs(encoded, 0n)) });
  try {
    for (it.seek(codec.dataKey(codec.appendTs(encoded, ts))); it.valid(); it.next()) {
      const w = codec.decodeWrite(it.value());
      if (w.writeType === 'Put') return words.decode(w.shortValue);
      if (w.writeType === 'Delete') return undefined;
    }
    return undefined;
  } finally {
    it.close();
  }
}

function commit(batch: WriteBatch, user: string, startTs: bigint, commitTs: bigint, value: string | null): void {
  const key = codec.dataKey(codec.appendTs(codec.encodeBytes(text.encode(user)), commitTs));
  const write = value === null ? codec.newWrite('Delete', startTs) : codec.newWrite('Put', startTs, text.encode(value));
  batch.put('write', key, codec.encodeWrite(write));
}

async function main(): Promise<void> {
  const kernel = await Kernel.start({ plugins: [memoryEngine(), hotPath()] });
  const engine = kernel.resolve(ENGINE);
  const hot = kernel.resolve(HOTPATH);
  say('FlashKV quick start');
  say(`  plugins started in dependency order: ${kernel.plugins.join(', ')}`);
  say(`  hot path: ${hot.kind} (FLASHKV_HOTPATH=js|wasm forces one)`);

  say('\n1. Three rows committed at ts 100, in TiKV\'s bytes');
  const first = new WriteBatch();
  commit(first, 'user:ada', 90n, 100n, 'Ada Lovelace');
  commit(first, 'user:alan', 90n, 100n, 'Alan Turing');
  commit(first, 'user:grace', 90n, 100n, 'Grace Hopper');
  await engine.write(first, { sync: true });
  const sampleKey = codec.dataKey(codec.appendTs(codec.encodeBytes(text.encode('user:ada')), 100n));
  say(`  write-CF key of user:ada@100  ${codec.toHex(sampleKey)}`);
  say(`  its Write record               ${codec.toHex(engine.get('write', sampleKey)!)}`);

  say('\n2. A snapshot, then a bad deploy at ts 200 rewrites one row and deletes another');
  const before = engine.snapshot();
  const bad = new WriteBatch();
  commit(bad, 'user:ada', 190n, 200n, 'CORRUPTED BY DEPLOY');
  commit(bad, 'user:grace', 190n, 200n, null);
  await engine.write(bad);
  const users = ['user:ada', 'user:alan', 'user:grace'];
  say('  user          live@300               snapshot@300           live as of ts 150');
  for (const u of users) {
    const cols = [readAt(engine, u, 300n), readAt(before, u, 300n), readAt(engine, u, 150n)].map((v) => (v ?? '(deleted)').padEnd(22));
    say(`  ${u.padEnd(13)} ${cols.join(' ')}`);
  }
  before.release();
  say('  The snapshot is isolated from the later batch, and every old version is still there');
  say('  to read at an older ts: exactly what flashback rolls a range back to (issue 4).');

  say('\n3. The hot path encodes a batch of 256 keys in one call');
  const raw = Array.from({ length: 256 }, (_, i) => text.encode(`order:${String(i).padStart(6, '0')}`));
  const ts = new BigUint64Array(256).fill(300n);
  const out = hot.encodeKeys(packBatch(raw), ts, { dataPrefix: true });
  const firstOut = out.data.subarray(out.offsets[0], out.offsets[1]);
  const expected = codec.dataKey(codec.appendTs(codec.encodeBytes(raw[0]!), 300n));
  say(`  ${out.count} keys, ${out.offsets[out.count]} bytes; first = ${codec.toHex(firstOut)}`);
  say(`  same bytes as codec.dataKey(appendTs(encodeBytes(raw), ts)): ${codec.toHex(firstOut) === codec.toHex(expected)}`);

  await kernel.stop();
  say('\nNext:');
  say('  npm test                              the whole test suite');
  say('  npm run bench -- --help               benchmark suites, side by side with their anchors');
  say('  docs/plugins.md                       write your own plugin (examples/third-party-plugin)');
}

main().catch((err: unknown) => {
  // One clear line, not a stack trace: the tour is the first thing a new user runs.
  console.error(`flashkv quick start failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
