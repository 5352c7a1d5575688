import test from 'ava';
import {
  FLASHBACK_OLD_ABSENT,
  FLASHBACK_OLD_PUT,
  FLASHBACK_OUT_DEFAULT_CF,
  FLASHBACK_OUT_WRITE_CF,
  codec,
  createJsHotPath,
  flashbackBatchBound,
  flashbackBatchReference,
  newFlashbackBatchOutput,
  tsCfKey,
  type FlashbackBatchInput,
  type FlashbackBatchResult,
} from '../src/index.js';

// The TS reference behind HotPath.flashbackBatch, on hand-picked edge cases (the seeded
// differential against WASM and the codec lives in asm/test/flashback-batch.test.ts).

function mustInput(rows: ReadonlyArray<{ key: Uint8Array; old?: Uint8Array }>): FlashbackBatchInput {
  const keys = new Uint8Array(rows.reduce((a, r) => a + r.key.length, 0));
  const values = new Uint8Array(rows.reduce((a, r) => a + (r.old?.length ?? 0), 0));
  const input: FlashbackBatchInput = { count: rows.length, keys, keyEnd: new Uint32Array(rows.length), oldKind: new Uint8Array(rows.length), values, valueEnd: new Uint32Array(rows.length) };
  let k = 0;
  let v = 0;
  rows.forEach((r, i) => {
    keys.set(r.key, k);
    k += r.key.length;
    input.keyEnd[i] = k;
    input.oldKind[i] = r.old === undefined ? FLASHBACK_OLD_ABSENT : FLASHBACK_OLD_PUT;
    if (r.old !== undefined) {
      values.set(r.old, v);
      v += r.old.length;
    }
    input.valueEnd[i] = v;
  });
  return input;
}

function opsOf(r: FlashbackBatchResult): string[] {
  const out: string[] = [];
  for (let j = 0; j < r.opCount; j++) {
    const cf = r.cf[j] === FLASHBACK_OUT_WRITE_CF ? 'write' : r.cf[j] === FLASHBACK_OUT_DEFAULT_CF ? 'default' : '?';
    out.push(`${cf}:${codec.toHex(r.buf.subarray(r.keyStart[j]!, r.keyEnd[j]!))}=${codec.toHex(r.buf.subarray(r.valueStart[j]!, r.valueEnd[j]!))}`);
  }
  return out;
}

const enc = (s: string) => codec.encodeBytes(new TextEncoder().encode(s));

test('short values (255 bytes) stay in the record, 256 bytes go to the default CF at S, absent keys become Deletes', (t) => {
  const hp = createJsHotPath();
  const v255 = new Uint8Array(255).fill(7);
  const v256 = new Uint8Array(256).fill(8);
  const rows = [{ key: enc('a'), old: v255 }, { key: enc('b'), old: v256 }, { key: enc('c') }, { key: enc('d'), old: new Uint8Array(0) }];
  const S = 2n ** 63n + 5n;
  const C = S + 1n;
  const r = hp.flashbackBatch(mustInput(rows), S, C);
  t.is(r.keysTaken, 4);
  t.deepEqual(opsOf(r), [
    `write:${codec.toHex(tsCfKey(rows[0]!.key, C))}=${codec.toHex(codec.encodeWrite(codec.newWrite('Put', S, v255)))}`,
    `write:${codec.toHex(tsCfKey(rows[1]!.key, C))}=${codec.toHex(codec.encodeWrite(codec.newWrite('Put', S)))}`,
    `default:${codec.toHex(tsCfKey(rows[1]!.key, S))}=${codec.toHex(v256)}`,
    `write:${codec.toHex(tsCfKey(rows[2]!.key, C))}=${codec.toHex(codec.encodeWrite(codec.newWrite('Delete', S)))}`,
    `write:${codec.toHex(tsCfKey(rows[3]!.key, C))}=${codec.toHex(codec.encodeWrite(codec.newWrite('Put', S, new Uint8Array(0))))}`,
  ]);
});

test('maxWriteSize cuts at the first key that does not fit, but never before the first key', (t) => {
  const hp = createJsHotPath();
  const rows = [{ key: enc('k1'), old: new Uint8Array(10) }, { key: enc('k2'), old: new Uint8Array(10) }, { key: enc('k3') }];
  const input = mustInput(rows);
  const all = hp.flashbackBatch(input, 10n, 20n);
  t.is(all.keysTaken, 3);
  const perKey = [0, 1, 2].map((i) => hp.flashbackBatch({ ...input, count: 1, keys: input.keys.subarray(input.keyEnd[i - 1] ?? 0), keyEnd: Uint32Array.of(input.keyEnd[i]! - (input.keyEnd[i - 1] ?? 0)), oldKind: input.oldKind.subarray(i), values: input.values.subarray(input.valueEnd[i - 1] ?? 0), valueEnd: Uint32Array.of(input.valueEnd[i]! - (input.valueEnd[i - 1] ?? 0)) }, 10n, 20n).writeSize);
  const total = hp.flashbackBatch(input, 10n, 20n).writeSize;
  t.is(total, perKey[0]! + perKey[1]! + perKey[2]!);
  t.is(hp.flashbackBatch(input, 10n, 20n, perKey[0]! + perKey[1]!).keysTaken, 2);
  t.is(hp.flashbackBatch(input, 10n, 20n, perKey[0]! + perKey[1]! - 1).keysTaken, 1);
  t.is(hp.flashbackBatch(input, 10n, 20n, 0).keysTaken, 1);
  t.is(hp.flashbackBatch({ ...input, count: 0 }, 10n, 20n).opCount, 0);
});

test('the HotPath result is the reference output, reused across calls; its buffer grows for big batches', (t) => {
  const hp = createJsHotPath();
  const small = mustInput([{ key: enc('x'), old: new Uint8Array(3) }]);
  const a = hp.flashbackBatch(small, 1n, 2n);
  const big = mustInput([{ key: enc('y'), old: new Uint8Array(100_000).fill(9) }]);
  const b = hp.flashbackBatch(big, 3n, 4n);
  t.is(b, a, 'one result object per HotPath');
  const own = newFlashbackBatchOutput(flashbackBatchBound(big), 1);
  flashbackBatchReference(big, 3n, 4n, own);
  t.deepEqual(opsOf(b), opsOf(own));
  t.is(b.opCount, 2);
  t.true(b.buf.length >= flashbackBatchBound(big));
  t.throws(() => hp.flashbackBatch(small, 1n, 2n ** 64n), { instanceOf: RangeError, message: /commitTs .* u64/ });
});
