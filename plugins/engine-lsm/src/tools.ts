import { isKvError } from '@flashkv/core';
import { batchSeq, decodeBatch } from './batch-codec.js';
import type { FS } from './fs.js';
import { CF_NAMES, compareInternal, KIND_DELETE, KIND_DELETE_RANGE, KIND_PUT } from './keys.js';
import { decodeEdit, fileName, readManifest } from './manifest.js';
import { BlockCache } from './sstable/block-cache.js';
import { TableReader } from './sstable/table-reader.js';
import { readLog } from './wal/log-reader.js';
import { tableRangeDels } from './range-del.js';

/**
 * The debug tools behind `flashkv-lsm` (STYLE.md habit 10: every format has a dump tool).
 * Each returns lines of text so tests can assert on them; the CLI prints them.
 */

const hex = (b: Uint8Array, max = 64): string => {
  const h = Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
  return h.length > max * 2 ? `${h.slice(0, max * 2)}...(${b.length} bytes)` : h;
};

/** A prefixed key as `cf:hex`. */
export function showKey(pk: Uint8Array): string {
  return `${CF_NAMES[pk[0]!] ?? `cf${pk[0]}`}:${hex(pk.subarray(1))}`;
}

const KIND_NAMES = ['DEL', 'PUT', 'DELRANGE'];

export function dumpWal(fs: FS, path: string): string[] {
  const out: string[] = [];
  const res = readLog(fs.readFile(path), path, (record, offset) => {
    const seq = batchSeq(record);
    const ops: string[] = [];
    decodeBatch(record, `${path}@${offset}`, (kind, key, v) => {
      if (kind === KIND_PUT) ops.push(`  PUT ${showKey(key)} = ${hex(v!, 16)}`);
      else if (kind === KIND_DELETE) ops.push(`  DEL ${showKey(key)}`);
      else if (kind === KIND_DELETE_RANGE) ops.push(`  DELRANGE ${showKey(key)} .. ${showKey(v!)}`);
    });
    out.push(`@${offset} seq=${seq} ops=${ops.length}`, ...ops);
  });
  out.push(`records=${res.records} goodEnd=${res.goodEnd}${res.torn ? ' TORN TAIL (cut on next open)' : ''}`);
  return out;
}

export function dumpSst(fs: FS, path: string, limit = Infinity): string[] {
  const num = Number(/(\d+)\.sst$/.exec(path)?.[1] ?? 0);
  const table = TableReader.open(fs.open(path), num, new BlockCache(16 * 1024 * 1024));
  try {
    const out = [`${path}`, `properties ${JSON.stringify(table.props)}`, `filter ${table.filter.length} bytes`];
    const it = table.iterator();
    let n = 0;
    for (it.first(); it.valid() && n < limit; it.next(), n++) {
      out.push(`${showKey(it.key())} @${it.seq()} ${KIND_NAMES[it.kind()] ?? it.kind()}${it.kind() === KIND_PUT ? ` = ${hex(it.value(), 16)}` : ''}`);
    }
    it.close();
    return out;
  } finally {
    table.close();
  }
}

/** Every edit of the live manifest (or of a named manifest file), then the resulting levels. */
export function dumpManifest(fs: FS, dir: string): string[] {
  const found = readManifest(fs, dir);
  if (found === null) return [`${dir}: no CURRENT, not a flashkv-lsm directory`];
  const out = [`CURRENT -> ${found.manifest}`];
  readLog(fs.readFile(`${dir}/${found.manifest}`), found.manifest, (record, offset) => {
    const e = decodeEdit(record, found.manifest);
    const add = e.add?.map((a) => `+L${a.level} ${fileName(a.file.number, 'sst')} ${a.file.size}B [${showKey(a.file.smallest)} .. ${showKey(a.file.largest)}] seq ${a.file.smallestSeq}..${a.file.largestSeq}`);
    const rm = e.remove?.map((r) => `-L${r.level} ${fileName(r.number, 'sst')}`);
    const head = Object.entries(e)
      .filter(([k]) => k !== 'add' && k !== 'remove')
      .map(([k, v]) => `${k}=${String(v)}`)
      .join(' ');
    out.push(`@${offset} ${head}`, ...(add ?? []).map((s) => `  ${s}`), ...(rm ?? []).map((s) => `  ${s}`));
  });
  const s = found.state;
  out.push(`state: logNumber=${s.logNumber} nextFileNumber=${s.nextFileNumber} lastSeq=${s.lastSeq}`);
  s.levels.forEach((files, l) => {
    if (files.length > 0) out.push(`  L${l}: ${files.map((f) => fileName(f.number, 'sst')).join(' ')}`);
  });
  return out;
}

/**
 * Verifies a directory without opening it for writing: the manifest replays, every live SST
 * opens, every block checksum holds, keys are in order inside each table and inside each
 * level >= 1, entry counts and key ranges match the manifest, and every WAL the manifest
 * still needs reads to its end (a torn tail is reported, not an error).
 */
export function check(fs: FS, dir: string): { ok: boolean; lines: string[] } {
  const lines: string[] = [];
  let ok = true;
  const problem = (s: string) => {
    ok = false;
    lines.push(`PROBLEM ${s}`);
  };
  let found;
  try {
    found = readManifest(fs, dir);
  } catch (e) {
    problem(`manifest: ${(e as Error).message}`);
    return { ok, lines };
  }
  if (found === null) {
    problem(`${dir}: no CURRENT`);
    return { ok, lines };
  }
  const { state } = found;
  const cache = new BlockCache(16 * 1024 * 1024);
  state.levels.forEach((files, level) => {
    let prevLargest: Uint8Array | null = null;
    for (const meta of files) {
      const name = fileName(meta.number, 'sst');
      const path = `${dir}/${name}`;
      if (!fs.exists(path)) {
        problem(`L${level} ${name}: listed in the manifest but missing`);
        continue;
      }
      try {
        const t = TableReader.open(fs.open(path), meta.number, cache);
        const it = t.iterator();
        let n = 0;
        let firstKey: Uint8Array | null = null;
        let lastKey: Uint8Array | null = null;
        let lastSeq = 0;
        for (it.first(); it.valid(); it.next()) {
          const k = it.key();
          if (lastKey !== null && compareInternal(lastKey, lastSeq, k, it.seq()) >= 0) problem(`${name}: entry ${n} out of order`);
          if (n === 0) firstKey = k;
          lastKey = k;
          lastSeq = it.seq();
          n++;
        }
        // A table's key range covers its range tombstones too (format version 2).
        for (const d of tableRangeDels(t)) {
          if (compareInternal(d.start, 0, d.end, 0) >= 0) problem(`${name}: an empty or inverted range tombstone`);
          if (firstKey === null || compareInternal(d.start, 0, firstKey, 0) < 0) firstKey = d.start;
          if (lastKey === null || compareInternal(d.end, 0, lastKey, 0) > 0) lastKey = d.end;
        }
        if (firstKey !== null && compareInternal(firstKey, 0, meta.smallest, 0) !== 0) problem(`${name}: smallest key differs from the manifest`);
        if (lastKey !== null && compareInternal(lastKey, 0, meta.largest, 0) !== 0) problem(`${name}: largest key differs from the manifest`);
        if (n !== meta.entries || n !== t.props.entries) problem(`${name}: ${n} entries, manifest says ${meta.entries}, properties say ${t.props.entries}`);
        it.close();
        t.close();
        if (level > 0 && prevLargest !== null && compareInternal(prevLargest, 0, meta.smallest, 0) >= 0) problem(`L${level}: ${name} overlaps the file before it`);
        prevLargest = meta.largest;
        lines.push(`ok L${level} ${name} entries=${n}`);
      } catch (e) {
        problem(`${name}: ${isKvError(e) ? e.message : String(e)}`);
      }
    }
  });
  for (const n of fs.readdir(dir).sort()) {
    const m = /^(\d+)\.log$/.exec(n);
    if (m === null || Number(m[1]) < state.logNumber) continue;
    try {
      const res = readLog(fs.readFile(`${dir}/${n}`), n, (record, offset) => decodeBatch(record, `${n}@${offset}`, () => {}));
      lines.push(`ok ${n} records=${res.records}${res.torn ? ` torn tail at ${res.goodEnd}` : ''}`);
    } catch (e) {
      problem(`${n}: ${(e as Error).message}`);
    }
  }
  lines.push(ok ? 'check: OK' : 'check: FAILED');
  return { ok, lines };
}
