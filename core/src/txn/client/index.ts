export * from './backoff.js';
export * from './txn-client.js';
export * from './transaction.js';
export * from './plugin.js';
export { timerSleep } from './sleep.js';
