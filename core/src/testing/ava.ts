import { createRequire } from 'node:module';
import type { TestFn } from 'ava';

let cached: TestFn | undefined;

/**
 * ava's `test`, loaded on first use. A static `import test from 'ava'` would make merely
 * importing `@flashkv/core/testing` (for Rng or ReferenceEngine, say from a bench) exit the
 * process outside the ava runner, which is what ava does when imported elsewhere. ava's ESM
 * entry re-exports its CommonJS one, so this is the same runner the test file registers with.
 */
export function avaTest(): TestFn {
  cached ??= createRequire(import.meta.url)('ava') as TestFn;
  return cached;
}
