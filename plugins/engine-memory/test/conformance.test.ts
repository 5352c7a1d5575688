import { runEngineConformance } from '@flashkv/core/testing';
import { MemoryEngine } from '../src/index.js';

runEngineConformance({ name: 'engine-memory', factory: () => new MemoryEngine() });

// Tiny nodes make every conformance scenario cross leaf and branch boundaries.
runEngineConformance({ name: 'engine-memory (leaf 3, branch 4)', factory: () => new MemoryEngine({ leafSize: 3, branchSize: 4 }) });
