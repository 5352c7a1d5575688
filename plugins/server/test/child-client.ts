import 'reflect-metadata';
import { FlashKvClient } from '../src/index.js';

/**
 * A client in a process of its own that the cross-process tests kill mid-stream (SIGKILL: the
 * socket just goes away, no cancel is sent). Prints one line when the stream is flowing, then
 * keeps reading until killed.
 *   node child-client.js <endpoint> <token> changefeed
 *   node child-client.js <endpoint> <token> flashback <version>
 *   node child-client.js <endpoint> <token> batch          (16 callers on one BatchStream)
 */
const [endpoint, token, mode, version] = process.argv.slice(2);
const client = new FlashKvClient({ endpoint: endpoint!, token: token!, batching: mode === 'batch' });
if (mode === 'batch') {
  let n = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      for (;;) {
        const ts = await client.getTs();
        await client.get(new TextEncoder().encode('k:0001'), ts);
        if (n++ === 100) process.stdout.write('streaming batches\n');
      }
    }),
  );
} else if (mode === 'changefeed') {
  let n = 0;
  for await (const e of client.changefeed({ startTs: 0n })) {
    if (n++ === 0) process.stdout.write(`streaming ${e.type}\n`);
  }
} else if (mode === 'flashback') {
  let n = 0;
  await client.flashback({ version: BigInt(version!) }, (p) => {
    if (n++ === 0) process.stdout.write(`streaming ${p.phase}\n`);
  });
  process.stdout.write('flashback finished before the kill\n');
  // Stay alive so the test's kill is still what ends the process.
  setInterval(() => undefined, 1000);
} else {
  console.error(`unknown mode ${String(mode)}`);
  process.exit(2);
}
