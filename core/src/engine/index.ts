export * from './column-family.js';
export * from './write-batch.js';
export * from './engine.js';
export * from './entry-batch.js';
