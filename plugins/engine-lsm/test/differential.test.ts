import { runEngineDifferential } from '@flashkv/core/testing';
import { lsm } from './lsm-factory.js';

// Metamorphic: the same seeded steps under several option sets, with reopen in the middle.
runEngineDifferential({ name: 'engine-lsm default', seed: 101, ops: 400, ...lsm({}) });
runEngineDifferential({ name: 'engine-lsm tiny memtables', seed: 101, ops: 400, ...lsm({ memtableBytes: 1024, table: { blockSize: 200 } }) });
runEngineDifferential({ name: 'engine-lsm stall', seed: 202, ops: 400, ...lsm({ memtableBytes: 700, maxImmutableMemtables: 1, maxGroupBytes: 64 }) });
runEngineDifferential({
  name: 'engine-lsm compaction in a worker',
  seed: 303,
  ops: 400,
  ...lsm({ memtableBytes: 1024, l0CompactionTrigger: 2, levelBaseBytes: 4096, levelMultiplier: 2, targetFileSize: 2048 }),
});
