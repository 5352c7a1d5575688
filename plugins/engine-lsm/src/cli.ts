#!/usr/bin/env node
// flashkv-lsm: debug tools for an engine-lsm directory. An entry point that loads
// @flashkv/core, so it imports the reflect polyfill first (core/src/placement/README.md).
import 'reflect-metadata';
import { nodeFS } from './fs.js';
import { check, dumpManifest, dumpSst, dumpWal } from './tools.js';

const USAGE = `usage: flashkv-lsm <command> <path>
  dump-wal <file.log>                 every batch record: sequence number and operations
  dump-sst <file.sst> [--limit n]     properties, then every entry (key, seq, kind, value)
  dump-manifest <dir>                 every version edit of the live manifest, then the levels
  check <dir>                         verify manifest, SST checksums/order/ranges and WALs`;

const [cmd, path, ...rest] = process.argv.slice(2);
if (cmd === undefined || path === undefined) {
  console.error(USAGE);
  process.exit(2);
}
try {
  let lines: string[];
  let ok = true;
  switch (cmd) {
    case 'dump-wal':
      lines = dumpWal(nodeFS, path);
      break;
    case 'dump-sst': {
      const i = rest.indexOf('--limit');
      lines = dumpSst(nodeFS, path, i >= 0 ? Number(rest[i + 1]) : Infinity);
      break;
    }
    case 'dump-manifest':
      lines = dumpManifest(nodeFS, path);
      break;
    case 'check':
      ({ ok, lines } = check(nodeFS, path));
      break;
    default:
      console.error(`unknown command ${cmd}\n${USAGE}`);
      process.exit(2);
  }
  for (const l of lines) console.log(l);
  process.exit(ok ? 0 : 1);
} catch (e) {
  console.error(`flashkv-lsm ${cmd}: ${(e as Error).message}`);
  process.exit(1);
}
