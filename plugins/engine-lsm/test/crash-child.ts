// Child process of crash.test.ts: writes acknowledged batches until the parent kills it.
// An entry point that loads @flashkv/core, so it imports the reflect polyfill first.
import 'reflect-metadata';
import { writeSync } from 'node:fs';
import { WriteBatch } from '@flashkv/core';
import { LsmEngine } from '../src/engine.js';
import { crashBatch, CRASH_LANES, CRASH_OPTIONS } from './crash-shared.js';

const [dir, roundArg, startArg] = process.argv.slice(2);
const round = Number(roundArg);
const start = Number(startArg);

const engine = await LsmEngine.open({ dir: dir!, ...CRASH_OPTIONS });
writeSync(1, 'ready\n');

// Lanes write concurrently (so group commit batches them), each lane strictly in order.
async function lane(l: number): Promise<void> {
  for (let i = start + l; ; i += CRASH_LANES) {
    const b: WriteBatch = crashBatch(round, i, i - CRASH_LANES >= start ? i - CRASH_LANES : null);
    await engine.write(b, { sync: true });
    // Acknowledged means durable: report it before anything else can happen.
    writeSync(1, `ack ${i}\n`);
  }
}
await Promise.all(Array.from({ length: CRASH_LANES }, (_, l) => lane(l)));
