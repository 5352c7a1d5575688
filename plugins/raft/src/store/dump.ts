import type { EngineReader } from '@flashkv/core';
import {
  decodeApplyState,
  decodeEntry,
  decodeHardState,
  decodeRegionState,
  decodeStoreIdent,
  decodeTombstone,
  regionIdOfKey,
  storeIdentKey,
} from './codec.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/**
 * Prints the store's records in the raft CF, one line each, decoded (STYLE.md habit 10: every
 * format has a dump tool). A record that does not decode is printed with its error and raw
 * bytes instead of stopping the dump, so a damaged store can still be inspected.
 */
export function dumpStore(engine: EngineReader, options: { readonly entries?: boolean } = {}): string {
  const lines: string[] = [];
  const ident = engine.get('raft', storeIdentKey());
  lines.push(ident ? `store ${safe(() => String(decodeStoreIdent(ident)))}` : 'store (no ident)');
  const it = engine.iterator('raft', { lower: new Uint8Array([0x01, 0x02]), upper: new Uint8Array([0x01, 0x03]) });
  try {
    for (let ok = it.first(); ok; ok = it.next()) {
      const k = it.key();
      const v = it.value();
      if (k.length < 11) {
        lines.push(`? key ${hex(k)} value ${hex(v)}`);
        continue;
      }
      const region = regionIdOfKey(k);
      switch (k[10]) {
        case 0x01:
          lines.push(`region ${region} hard ${safe(() => JSON.stringify(decodeHardState(v)))}`);
          break;
        case 0x02:
          lines.push(`region ${region} apply ${safe(() => JSON.stringify(decodeApplyState(v)))}`);
          break;
        case 0x03:
          lines.push(
            `region ${region} state ${safe(() => {
              const s = decodeRegionState(v);
              const r = s.region;
              const fb = r.flashback.inFlashback ? ` flashback@${r.flashback.flashbackStartTs}` : '';
              return `peer ${s.peerId} [${hex(r.startKey)}, ${hex(r.endKey)}) v${r.epoch.version} c${r.epoch.confVer} peers ${r.peers.map((p) => `${p.id}@${p.storeId}${p.role === 'learner' ? 'L' : ''}`).join(',')}${fb}`;
            })}`,
          );
          break;
        case 0x04: {
          if (!options.entries) break;
          const index = k.length === 19 ? Number(new DataView(k.buffer, k.byteOffset, k.byteLength).getBigUint64(11)) : -1;
          lines.push(`region ${region} entry ${index} ${safe(() => {
            const e = decodeEntry(index, v);
            return `term ${e.term} ${e.type} ${e.data.length}B`;
          })}`);
          break;
        }
        case 0x05:
          lines.push(`region ${region} tombstone peer ${safe(() => String(decodeTombstone(v)))}`);
          break;
        default:
          lines.push(`? key ${hex(k)} value ${hex(v)}`);
      }
    }
  } finally {
    it.close();
  }
  return lines.join('\n');
}

function safe(f: () => string): string {
  try {
    return f();
  } catch (e) {
    return `<${e instanceof Error ? e.message : String(e)}>`;
  }
}
