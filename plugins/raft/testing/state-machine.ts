import type { Entry, Snapshot } from '../src/core/index.js';
import { fromLatin1, latin1 } from './format.js';

/**
 * The replicated state machine the simulation drives: the list of applied normal-entry payloads
 * plus a hash chained over every applied entry (index, term, type, data). Two nodes that applied
 * the same prefix hold the same hash at the same index, which is how the harness checks state
 * machine safety in O(1) per applied entry, across snapshots too.
 */
export class SimStateMachine {
  index = 0;
  hash = 0x811c9dc5;
  values: string[] = [];

  apply(e: Entry): void {
    if (e.index !== this.index + 1) {
      throw new Error(`state machine at ${this.index} asked to apply entry ${e.index} out of order`);
    }
    let h = this.hash;
    h = mix(h, e.index);
    h = mix(h, e.term);
    h = mix(h, e.type === 'normal' ? 1 : 2);
    for (let i = 0; i < e.data.length; i++) h = Math.imul(h ^ e.data[i]!, 0x01000193) >>> 0;
    this.hash = h;
    this.index = e.index;
    if (e.type === 'normal' && e.data.length > 0) this.values.push(latin1(e.data));
  }

  encode(): Uint8Array {
    return fromLatin1(JSON.stringify({ index: this.index, hash: this.hash, values: this.values }));
  }

  static fromSnapshot(snap: Snapshot): SimStateMachine {
    const sm = new SimStateMachine();
    if (snap.metadata.index === 0) return sm;
    const parsed = JSON.parse(latin1(snap.data)) as { index: number; hash: number; values: string[] };
    if (parsed.index !== snap.metadata.index) {
      throw new Error(`snapshot data is for index ${parsed.index} but its metadata says ${snap.metadata.index}`);
    }
    sm.index = parsed.index;
    sm.hash = parsed.hash;
    sm.values = parsed.values;
    return sm;
  }
}

function mix(h: number, n: number): number {
  // Numbers up to 2^53: fold both halves.
  h = Math.imul(h ^ (n >>> 0), 0x01000193) >>> 0;
  return Math.imul(h ^ Math.floor(n / 0x1_0000_0000), 0x01000193) >>> 0;
}
