export * from './command.js';
export * from './scheduler.js';
