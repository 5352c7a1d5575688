export * from './backoff.js';
export * from './txn-client.js';
export * from './transaction.js';
export * from './plugin.js';
// Re-exported so @flashkv/core keeps offering it; the timer itself lives in wiring code.
export { timerSleep } from '../../runtime/timer-sleep.js';
