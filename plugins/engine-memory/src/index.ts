export { MemoryEngine, type MemoryEngineOptions } from './engine.js';
export { memoryEngine } from './plugin.js';
export { CowBTree, type BTreeOptions, DEFAULT_BRANCH_SIZE, DEFAULT_LEAF_SIZE } from './btree.js';
