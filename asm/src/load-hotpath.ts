import { InvalidArgumentError, createJsHotPath, type HotPath } from '@flashkv/core';
import { createWasmHotPath } from './wasm-hotpath.js';

/** 'auto' reads FLASHKV_HOTPATH (DESIGN.md section 3: it forces one implementation for benchmarks). */
export type HotPathChoice = 'js' | 'wasm' | 'auto';

export const HOTPATH_ENV = 'FLASHKV_HOTPATH';

/**
 * The implementation FLASHKV_HOTPATH asks for: `js` or `wasm`; unset (or empty, as a shell's
 * `FLASHKV_HOTPATH=` leaves it) means `wasm`. Any other value is an InvalidArgumentError rather
 * than a silent fallback, so a benchmark never measures the implementation it did not ask for.
 */
export function hotPathKindFromEnv(env: NodeJS.ProcessEnv = process.env): 'js' | 'wasm' {
  const value = env[HOTPATH_ENV];
  if (value === undefined || value === '') return 'wasm';
  if (value === 'js' || value === 'wasm') return value;
  throw new InvalidArgumentError(`${HOTPATH_ENV} must be "js" or "wasm" (or unset for wasm), got ${JSON.stringify(value)}`, {
    variable: HOTPATH_ENV,
    value,
  });
}

/** A new HotPath of the chosen kind; each call returns an instance with its own buffers. */
export function loadHotPath(choice: HotPathChoice = 'auto', env: NodeJS.ProcessEnv = process.env): HotPath {
  const kind = choice === 'auto' ? hotPathKindFromEnv(env) : choice;
  switch (kind) {
    case 'js':
      return createJsHotPath();
    case 'wasm':
      return createWasmHotPath();
    default:
      throw new TypeError(`loadHotPath: choice must be 'js', 'wasm' or 'auto', got ${JSON.stringify(kind)}`);
  }
}
