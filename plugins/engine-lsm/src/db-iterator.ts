import type { EngineIterator } from '@flashkv/core';
import { compareInternal, equalBytes, KIND_DELETE, MAX_SEQ } from './keys.js';
import type { InternalIterator } from './internal-iterator.js';

function compareKeys(a: Uint8Array, b: Uint8Array): number {
  return compareInternal(a, 0, b, 0);
}

/**
 * The user-facing iterator over one column family at one sequence number (LevelDB's DBIter):
 * of each key's versions it shows the newest one at or below `seq`, and hides the key when that
 * version is a delete. Bounds are prefixed keys: [lowerPk, upperPk).
 *
 * Forward, the internal cursor sits ON the shown entry. Backward, it sits just BEFORE the
 * shown key's versions (it had to walk past them to know the newest), so the shown key and
 * value are saved.
 */
export class DbIterator implements EngineIterator {
  private isValid = false;
  private forward = true;
  private closed = false;
  private savedKey: Uint8Array = new Uint8Array(0);
  private savedValue: Uint8Array = new Uint8Array(0);
  private userKey: Uint8Array | null = null;

  constructor(
    private readonly iter: InternalIterator,
    private readonly seqNo: number,
    private readonly cf: number,
    private readonly lowerPk: Uint8Array,
    private readonly upperPk: Uint8Array,
    private readonly onClose: () => void,
    /** Throws if the engine closed (EngineClosedError). */
    private readonly checkLive: () => void,
  ) {}

  private check(): void {
    this.checkLive();
    if (this.closed) throw new TypeError('iterator is closed');
  }

  private pk(key: Uint8Array): Uint8Array {
    const out = new Uint8Array(key.length + 1);
    out[0] = this.cf;
    out.set(key, 1);
    return out;
  }

  /** From the internal position, the first visible entry (forward); skips `skip`'s versions. */
  private findNext(skip: Uint8Array | null): void {
    const it = this.iter;
    this.forward = true;
    this.userKey = null;
    while (it.valid()) {
      const k = it.key();
      if (compareKeys(k, this.upperPk) >= 0) break;
      if (it.seq() <= this.seqNo) {
        if (skip !== null && equalBytes(k, skip)) {
          // an older version of a key already shown or deleted
        } else if (it.kind() === KIND_DELETE) {
          skip = k;
        } else {
          this.savedKey = k;
          this.savedValue = it.value();
          this.isValid = true;
          return;
        }
      }
      it.next();
    }
    this.isValid = false;
  }

  /** From the internal position, the last visible entry (backward). */
  private findPrev(): void {
    const it = this.iter;
    this.forward = false;
    this.userKey = null;
    let haveKind = KIND_DELETE;
    let key: Uint8Array | null = null;
    let value: Uint8Array | null = null;
    while (it.valid()) {
      const k = it.key();
      if (compareKeys(k, this.lowerPk) < 0) break;
      if (it.seq() <= this.seqNo) {
        if (haveKind !== KIND_DELETE && compareKeys(k, key!) < 0) break;
        haveKind = it.kind();
        key = k;
        value = it.value();
      }
      it.prev();
    }
    if (haveKind === KIND_DELETE) {
      this.isValid = false;
      return;
    }
    this.savedKey = key!;
    this.savedValue = value!;
    this.isValid = true;
  }

  seek(key: Uint8Array): boolean {
    this.check();
    if (!(key instanceof Uint8Array)) throw new TypeError('seek key must be a Uint8Array');
    let target = this.pk(key);
    if (compareKeys(target, this.lowerPk) < 0) target = this.lowerPk;
    this.iter.seekGE(target, MAX_SEQ);
    this.findNext(null);
    return this.isValid;
  }

  seekForPrev(key: Uint8Array): boolean {
    this.check();
    if (!(key instanceof Uint8Array)) throw new TypeError('seekForPrev key must be a Uint8Array');
    const target = this.pk(key);
    if (compareKeys(target, this.upperPk) >= 0) this.iter.seekLT(this.upperPk, MAX_SEQ);
    else this.iter.seekLT(target, -1);
    this.findPrev();
    return this.isValid;
  }

  first(): boolean {
    this.check();
    this.iter.seekGE(this.lowerPk, MAX_SEQ);
    this.findNext(null);
    return this.isValid;
  }

  last(): boolean {
    this.check();
    this.iter.seekLT(this.upperPk, MAX_SEQ);
    this.findPrev();
    return this.isValid;
  }

  next(): boolean {
    this.check();
    if (!this.isValid) return false;
    if (this.forward) {
      const k = this.savedKey;
      this.iter.next();
      this.findNext(k);
    } else {
      this.iter.seekGE(this.savedKey, -1);
      this.findNext(null);
    }
    return this.isValid;
  }

  prev(): boolean {
    this.check();
    if (!this.isValid) return false;
    if (this.forward) this.iter.seekLT(this.savedKey, MAX_SEQ);
    this.findPrev();
    return this.isValid;
  }

  valid(): boolean {
    this.check();
    return this.isValid;
  }

  key(): Uint8Array {
    this.check();
    if (!this.isValid) throw new TypeError('iterator is not positioned on an entry');
    return (this.userKey ??= this.savedKey.subarray(1));
  }

  value(): Uint8Array {
    this.check();
    if (!this.isValid) throw new TypeError('iterator is not positioned on an entry');
    return this.savedValue;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.isValid = false;
    this.iter.close();
    this.onClose();
  }
}
