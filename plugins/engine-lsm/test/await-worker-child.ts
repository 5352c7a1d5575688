// Child of compaction.test.ts: a process whose only pending work is a worker job must not exit
// before the job is done. An entry point that loads @flashkv/core, so the polyfill comes first.
import 'reflect-metadata';
import { writeSync } from 'node:fs';
import { WriteBatch } from '@flashkv/core';
import { LsmEngine } from '../src/engine.js';

const engine = await LsmEngine.open({ dir: process.argv[2]!, memtableBytes: 4096 });
for (let i = 0; i < 300; i++) await engine.write(new WriteBatch().put('default', new TextEncoder().encode(`k${i}`), new Uint8Array(64)));
await engine.compactAll();
writeSync(1, `compacted ${engine.stats.compactions}\n`);
await engine.close();
writeSync(1, 'closed\n');
