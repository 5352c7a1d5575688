export * from './hotpath.js';
