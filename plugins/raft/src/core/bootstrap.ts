import { assertNodeId, encodeConfChange } from './conf-change.js';
import type { MemoryStorage } from './storage.js';
import type { Entry } from './types.js';

/**
 * Writes a brand-new group's initial membership into an empty storage, the way etcd's
 * Bootstrap does: one committed membership-change entry per member at term 1. The membership
 * lives in the log rather than only in a snapshot so that a node added later, which starts from
 * nothing, rebuilds it by replicating the log from index 1.
 */
export function bootstrapStorage(storage: MemoryStorage, voters: readonly number[], learners: readonly number[] = []): void {
  if (storage.lastIndex() !== 0 || storage.hardState().term !== 0) throw new TypeError('raft: bootstrap needs an empty storage');
  if (voters.length === 0) throw new TypeError('raft: bootstrap needs at least one voter');
  const entries: Entry[] = [];
  for (const id of voters) {
    assertNodeId(id);
    entries.push({ term: 1, index: entries.length + 1, type: 'confChange', data: encodeConfChange({ type: 'addNode', nodeId: id }) });
  }
  for (const id of learners) {
    assertNodeId(id);
    entries.push({ term: 1, index: entries.length + 1, type: 'confChange', data: encodeConfChange({ type: 'addLearner', nodeId: id }) });
  }
  storage.append(entries);
  storage.setHardState({ term: 1, vote: 0, commit: entries.length });
}
