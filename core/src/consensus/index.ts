export * from './consensus.js';
export * from './region-gate.js';
export * from './local-consensus.js';
export * from './plugin.js';
