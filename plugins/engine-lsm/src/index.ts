export { LsmEngine, type LsmOptions } from './engine.js';
export { nodeFS, NodeFS, readFully, type FS, type ReadableFile, type WritableFile } from './fs.js';
export { FaultFS, ioError, type FaultPlan } from './fault-fs.js';
export { crc32c, crc32cUpdate } from './crc32c.js';
export { FORMAT_VERSION } from './manifest.js';
export { lsmEngine } from './plugin.js';
export { check, dumpManifest, dumpSst, dumpWal } from './tools.js';
