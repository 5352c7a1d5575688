export * from './hotpath.js';
export * from './encode-keys-args.js';
export * from './js-hotpath.js';
export * from './batch-packer.js';
export * from './scan-batch-args.js';
export * from './flashback-batch.js';
export * from './flashback-batch-args.js';
