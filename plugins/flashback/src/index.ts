export * from './flashback-batch.js';
export { ChangedKeyWalker, findFlashbackKey, scanFlashbackWrites, batchKey } from './read-phase.js';
export * from './actions.js';
export * from './commands.js';
