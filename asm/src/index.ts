export { createWasmHotPath, WasmHotPath, WASM_BATCH_BYTES_MAX } from './wasm-hotpath.js';
export { loadHotPath, hotPathKindFromEnv, HOTPATH_ENV, type HotPathChoice } from './load-hotpath.js';
export { hotPath, HOTPATH_PLUGIN_NAME, HOTPATH_PLUGIN_VERSION, type HotPathPluginOptions } from './plugin.js';
export { wasmPath } from './wasm-module.js';
