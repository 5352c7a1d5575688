import { WriteBatch } from '@flashkv/core';
import type { LsmOptions } from '../src/engine.js';

export const CRASH_LANES = 4;

/** Tiny sizes so flushes, compactions and manifest switches happen while the child is killed. */
export const CRASH_OPTIONS: Omit<LsmOptions, 'dir'> = {
  memtableBytes: 8 * 1024,
  l0CompactionTrigger: 2,
  levelBaseBytes: 32 * 1024,
  levelMultiplier: 4,
  targetFileSize: 16 * 1024,
};

const enc = (s: string) => new TextEncoder().encode(s);

export const aKey = (i: number) => enc(`a${String(i).padStart(8, '0')}`);
export const rKey = (round: number, i: number) => enc(`r${round}-${String(i).padStart(8, '0')}`);
export const value = (i: number) => enc(`value-${i}-${'p'.repeat(i % 90)}`);

/**
 * Batch i: the same key in three families (atomicity), plus a lane marker in `raft` that
 * replaces the lane's previous marker (a delete that must never be half-applied).
 */
export function crashBatch(round: number, i: number, prevInLane: number | null): WriteBatch {
  const b = new WriteBatch().put('default', aKey(i), value(i)).put('write', aKey(i), value(i)).put('lock', aKey(i), value(i));
  b.put('raft', rKey(round, i), value(i));
  if (prevInLane !== null) b.delete('raft', rKey(round, prevInLane));
  return b;
}
