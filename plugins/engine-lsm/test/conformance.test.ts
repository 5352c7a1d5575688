import { runEngineConformance } from '@flashkv/core/testing';
import { lsm } from './lsm-factory.js';

runEngineConformance({ name: 'engine-lsm', ...lsm({}) });
// The same suite with memtables so small that nearly every test reads through SSTs.
runEngineConformance({ name: 'engine-lsm tiny memtables', ...lsm({ memtableBytes: 512, table: { blockSize: 128, restartInterval: 2 } }) });
