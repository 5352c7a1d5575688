import 'reflect-metadata';
import test from 'ava';
import { ENGINE, Kernel, KvError, WriteBatch } from '@flashkv/core';
import { memoryEngine } from '@flashkv/engine-memory';
import { jsonlExport, JSONL_EXPORTER, type JsonlExporter } from '../src/index.js';

const bytes = (s: string) => new TextEncoder().encode(s);

async function kernelWithRows(rows: [string, string][]) {
  const kernel = await Kernel.start({ plugins: [jsonlExport(), memoryEngine()] });
  const batch = new WriteBatch();
  for (const [k, v] of rows) batch.put('default', bytes(k), bytes(v));
  await kernel.resolve(ENGINE).write(batch);
  return kernel;
}

test('export is taken from one snapshot and imports back byte for byte', async (t) => {
  const src = await kernelWithRows([
    ['apple', 'red'],
    ['banana', 'yellow'],
    ['cherry', 'dark red'],
  ]);
  const exporter = src.resolve<JsonlExporter>(JSONL_EXPORTER);
  const lines: string[] = [];
  let wroteDuring = false;
  const count = exporter.exportCf('default', (line) => {
    lines.push(line);
    if (!wroteDuring) {
      wroteDuring = true;
      // A write racing the export must not show up in it.
      void src.resolve(ENGINE).write(new WriteBatch().put('default', bytes('banana2'), bytes('late')));
    }
  });
  t.is(count, 3);
  t.is(lines.length, 3);
  t.deepEqual(JSON.parse(lines[0]!), { cf: 'default', k: Buffer.from('apple').toString('hex'), v: Buffer.from('red').toString('hex') });

  const dst = await Kernel.start({ plugins: [memoryEngine(), jsonlExport()] });
  t.is(await dst.resolve<JsonlExporter>(JSONL_EXPORTER).importLines(lines), 3);
  const engine = dst.resolve(ENGINE);
  t.deepEqual(engine.get('default', bytes('cherry')), bytes('dark red'));
  t.is(engine.get('default', bytes('banana2')), undefined);
  await Promise.all([src.stop(), dst.stop()]);
});

test('a bad line imports nothing', async (t) => {
  const kernel = await kernelWithRows([]);
  const exporter = kernel.resolve<JsonlExporter>(JSONL_EXPORTER);
  const good = JSON.stringify({ cf: 'default', k: '01', v: '02' });
  const err = await t.throwsAsync(exporter.importLines([good, '{"cf":"default","k":"zz","v":""}']), { instanceOf: KvError });
  t.is(err!.code, 'INVALID_ARGUMENT');
  t.regex(err!.message, /line 2/);
  t.is(kernel.resolve(ENGINE).get('default', Uint8Array.of(1)), undefined);
  await kernel.stop();
  t.throws(() => exporter.exportCf('default', () => undefined), { message: /stopped/ });
});

test('the kernel refuses the plugin without an engine, before running it', async (t) => {
  const err = await t.throwsAsync(Kernel.start({ plugins: [jsonlExport()] }), { instanceOf: KvError });
  t.is(err!.code, 'PROVIDER_MISSING');
  t.regex(err!.message, /flashkv-plugin-jsonl-export requires flashkv\.engine/);
});
