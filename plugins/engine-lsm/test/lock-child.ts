// Child process of lock.test.ts: opens the directory, reports, then holds it until killed
// ("hold"), or reports whether the open failed ("try").
import 'reflect-metadata';
import { writeSync } from 'node:fs';
import { KvError, WriteBatch } from '@flashkv/core';
import { LsmEngine } from '../src/engine.js';

const [dir, mode] = process.argv.slice(2);
try {
  const engine = await LsmEngine.open({ dir: dir!, compactionThread: 'inline' });
  const b = new WriteBatch();
  b.put('default', new TextEncoder().encode('child'), new TextEncoder().encode(String(process.pid)));
  await engine.write(b, { sync: true });
  writeSync(1, `opened ${process.pid}\n`);
  if (mode === 'hold') setInterval(() => {}, 1 << 30);
  else await engine.close();
} catch (e) {
  writeSync(1, `failed ${e instanceof KvError ? e.code : 'other'} ${(e as Error).message}\n`);
}
