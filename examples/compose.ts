import 'reflect-metadata';                       // first, in every entry point
import { Kernel, ENGINE, WriteBatch, codec } from '@flashkv/core';
import { memoryEngine } from '@flashkv/engine-memory';
import { hotPath } from '@flashkv/asm';

const kernel = await Kernel.start({ plugins: [memoryEngine(), hotPath()] });
const engine = kernel.resolve(ENGINE);

const key = codec.dataKey(codec.appendTs(codec.encodeBytes(new TextEncoder().encode('user:1')), 100n));
await engine.write(new WriteBatch().put('write', key, codec.encodeWrite(codec.newWrite('Put', 90n, new TextEncoder().encode('ada')))));

const snap = engine.snapshot();                  // isolated: later writes are invisible to it
console.log(snap.get('write', key));
snap.release();
await kernel.stop();
