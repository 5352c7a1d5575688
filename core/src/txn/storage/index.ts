export * from './storage.js';
export * from './validate.js';
export * from './plugin.js';
export { DeadlockDetector } from './deadlock.js';
