import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/*
 * Finds and compiles asm/build/flashkv.wasm (built by `npm run asbuild -w @flashkv/asm`).
 * The path is resolved from this module's own URL: compiled code runs from asm/dist/src, and a
 * TS runner executing asm/src directly sits one level higher.
 */
const CANDIDATES = ['../../build/flashkv.wasm', '../build/flashkv.wasm'];

/**
 * The part of the WebAssembly JS API used here. Node has it as a global, but its types live in
 * lib.dom, which a Node package does not load, so the few members used are typed locally.
 */
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
}
/** A compiled module, opaque to TS; only handed to the loader's instantiateSync. */
export type WasmModule = object;
const WebAssemblyApi = (globalThis as unknown as { WebAssembly: { Module: new (bytes: Uint8Array) => WasmModule } }).WebAssembly;

let compiled: WasmModule | undefined;

/** Absolute path of the WASM build this package loads. Throws when it has not been built. */
export function wasmPath(): string {
  for (const rel of CANDIDATES) {
    const p = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(p)) return p;
  }
  throw new Error(
    `@flashkv/asm: build/flashkv.wasm not found next to ${fileURLToPath(import.meta.url)}; ` +
      'run `npm run asbuild -w @flashkv/asm` (or `npm run build`) first',
  );
}

/**
 * The compiled module, compiled once per process. A compiled module is immutable; every
 * HotPath instantiates it afresh and so owns its own linear memory.
 */
export function flashKvModule(): WasmModule {
  compiled ??= new WebAssemblyApi.Module(readFileSync(wasmPath()));
  return compiled;
}
