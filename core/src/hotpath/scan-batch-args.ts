import { HOT_BATCH_MAX, type PackedBatch } from './hotpath.js';
import type { PackedEntries } from '../engine/entry-batch.js';

/*
 * Argument checks shared by every `mvccScanBatch` implementation, so the TS reference and the
 * WASM path reject the same inputs with the same errors. Unlike encodeKeys, the offsets are
 * checked in full here: the kernel compares each key with the previous one and parses records
 * at arbitrary offsets, and a WASM kernel must never be handed an offset outside what was
 * copied in. 2 x 257 comparisons per call is small next to the 256 entries they describe.
 * Malformed bytes inside well-formed offsets are not an argument error: the kernel reports
 * those as a negative group count (CorruptedError territory for the caller).
 */

const U64_MAX = 0xffff_ffff_ffff_ffffn;

function checkPacked(name: string, batch: PackedBatch): void {
  if (batch === null || typeof batch !== 'object') throw new TypeError(`mvccScanBatch: ${name} must be a PackedBatch`);
  const { data, offsets, count } = batch;
  if (!(data instanceof Uint8Array)) throw new TypeError(`mvccScanBatch: ${name}.data must be a Uint8Array`);
  if (!(offsets instanceof Uint32Array)) throw new TypeError(`mvccScanBatch: ${name}.offsets must be a Uint32Array`);
  if (!Number.isInteger(count)) throw new TypeError(`mvccScanBatch: ${name}.count must be an integer, got ${String(count)}`);
  if (count < 0 || count > HOT_BATCH_MAX) throw new RangeError(`mvccScanBatch: ${name}.count ${count} is outside 0..${HOT_BATCH_MAX}`);
  if (offsets.length < count + 1) {
    throw new RangeError(`mvccScanBatch: ${name}.offsets has ${offsets.length} entries, a batch of ${count} needs ${count + 1}`);
  }
  for (let i = 0; i < count; i++) {
    if (offsets[i]! > offsets[i + 1]!) {
      throw new RangeError(`mvccScanBatch: ${name}.offsets must not decrease, but offsets[${i}] = ${offsets[i]} > offsets[${i + 1}] = ${offsets[i + 1]}`);
    }
  }
  if (offsets[count]! > data.length) {
    throw new RangeError(`mvccScanBatch: ${name}.offsets[${count}] = ${offsets[count]} is past the end of ${name}.data (${data.length} bytes)`);
  }
}

/** Afterwards both batches have the same count and `offsets[0] <= ... <= offsets[count] <= data.length`. */
export function checkScanBatchArgs(keys: PackedBatch, values: PackedBatch, readTs: bigint): void {
  checkPacked('keys', keys);
  checkPacked('values', values);
  if (keys.count !== values.count) throw new RangeError(`mvccScanBatch: ${keys.count} keys but ${values.count} values`);
  if (typeof readTs !== 'bigint') throw new TypeError('mvccScanBatch: readTs must be a bigint');
  if (readTs < 0n || readTs > U64_MAX) throw new RangeError(`mvccScanBatch: readTs ${readTs} is outside the u64 range`);
}

/**
 * mvccScanEntries' checks, in full like checkScanBatchArgs (2 x 513 offsets per call). Afterwards
 * `offsets[0] <= ... <= offsets[2 count] <= data.length` and `flags` is an integer in 0..3.
 */
export function checkScanEntriesArgs(entries: PackedEntries, readTs: bigint, flags: number): void {
  if (entries === null || typeof entries !== 'object') throw new TypeError('mvccScanEntries: entries must be PackedEntries');
  const { data, offsets, count } = entries;
  if (!(data instanceof Uint8Array)) throw new TypeError('mvccScanEntries: entries.data must be a Uint8Array');
  if (!(offsets instanceof Uint32Array)) throw new TypeError('mvccScanEntries: entries.offsets must be a Uint32Array');
  if (!Number.isInteger(count)) throw new TypeError(`mvccScanEntries: entries.count must be an integer, got ${String(count)}`);
  if (count < 0 || count > HOT_BATCH_MAX) throw new RangeError(`mvccScanEntries: entries.count ${count} is outside 0..${HOT_BATCH_MAX}`);
  const last = 2 * count;
  if (offsets.length < last + 1) {
    throw new RangeError(`mvccScanEntries: entries.offsets has ${offsets.length} entries, ${count} entries need ${last + 1}`);
  }
  for (let i = 0; i < last; i++) {
    if (offsets[i]! > offsets[i + 1]!) {
      throw new RangeError(`mvccScanEntries: entries.offsets must not decrease, but offsets[${i}] = ${offsets[i]} > offsets[${i + 1}] = ${offsets[i + 1]}`);
    }
  }
  if (offsets[last]! > data.length) {
    throw new RangeError(`mvccScanEntries: entries.offsets[${last}] = ${offsets[last]} is past the end of entries.data (${data.length} bytes)`);
  }
  if (typeof readTs !== 'bigint') throw new TypeError('mvccScanEntries: readTs must be a bigint');
  if (readTs < 0n || readTs > U64_MAX) throw new RangeError(`mvccScanEntries: readTs ${readTs} is outside the u64 range`);
  if (!Number.isInteger(flags) || flags < 0 || flags > 3) throw new RangeError(`mvccScanEntries: flags must be an integer in 0..3, got ${String(flags)}`);
}
