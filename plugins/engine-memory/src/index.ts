export { MemoryEngine, type MemoryEngineOptions } from './engine.js';
export { CowBTree, type BTreeOptions } from './btree.js';
