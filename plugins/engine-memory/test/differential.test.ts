import { runEngineDifferential } from '@flashkv/core/testing';
import { MemoryEngine } from '../src/index.js';

runEngineDifferential({ name: 'engine-memory', factory: () => new MemoryEngine() });

// Tiny nodes: the same random programme now splits, borrows and merges at every level.
runEngineDifferential({ name: 'engine-memory (leaf 3, branch 4)', factory: () => new MemoryEngine({ leafSize: 3, branchSize: 4 }) });
