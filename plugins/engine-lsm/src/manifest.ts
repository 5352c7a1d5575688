import { CorruptedError, InvalidArgumentError } from '@flashkv/core';
import type { FS } from './fs.js';
import { readLog } from './wal/log-reader.js';
import { LogWriter } from './wal/log-writer.js';

/**
 * On-disk format version of the whole directory (manifest, WAL records, SSTs). Bump it on any
 * incompatible change; `open` refuses any other version with a message saying which.
 */
export const FORMAT_VERSION = 1;
export const MANIFEST_MAGIC = 'flashkv-lsm';

/** What the manifest records about one SST. Keys are hex (JSON has no bytes). */
export interface FileMeta {
  readonly number: number;
  readonly size: number;
  /** Smallest and largest prefixed user keys in the table. */
  readonly smallest: Uint8Array;
  readonly largest: Uint8Array;
  readonly smallestSeq: number;
  readonly largestSeq: number;
  readonly entries: number;
}

/**
 * A version edit (LevelDB's VersionEdit): one manifest record, JSON encoded. The first record
 * of every manifest carries `magic` and `format`; later ones carry changes.
 */
export interface VersionEdit {
  magic?: string;
  format?: number;
  /** WAL files numbered below this hold nothing that is not in an SST. */
  logNumber?: number;
  nextFileNumber?: number;
  lastSeq?: number;
  add?: { level: number; file: FileMeta }[];
  remove?: { level: number; number: number }[];
}

interface FileMetaJson {
  number: number;
  size: number;
  smallest: string;
  largest: string;
  smallestSeq: number;
  largestSeq: number;
  entries: number;
}

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));

export function encodeEdit(edit: VersionEdit): Uint8Array {
  const json = {
    ...edit,
    add: edit.add?.map((a) => ({ level: a.level, file: { ...a.file, smallest: hex(a.file.smallest), largest: hex(a.file.largest) } })),
  };
  return new TextEncoder().encode(JSON.stringify(json));
}

export function decodeEdit(record: Uint8Array, where: string): VersionEdit {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(record)) as Record<string, unknown>;
  } catch (e) {
    throw new CorruptedError(`manifest ${where}: record is not a version edit (${(e as Error).message})`, { file: where });
  }
  const add = raw['add'] as { level: number; file: FileMetaJson }[] | undefined;
  return {
    ...(raw as VersionEdit),
    add: add?.map((a) => ({ level: a.level, file: { ...a.file, smallest: unhex(a.file.smallest), largest: unhex(a.file.largest) } })),
  } as VersionEdit;
}

export const NUM_LEVELS = 7;

/** The set of live SSTs per level plus the counters recovery needs. Immutable once built. */
export interface ManifestState {
  readonly levels: readonly (readonly FileMeta[])[];
  readonly logNumber: number;
  readonly nextFileNumber: number;
  readonly lastSeq: number;
}

export function emptyState(): ManifestState {
  return { levels: Array.from({ length: NUM_LEVELS }, () => []), logNumber: 0, nextFileNumber: 2, lastSeq: 0 };
}

/** Applies an edit to a state. Level 0 stays ordered newest first, other levels by key. */
export function applyEdit(state: ManifestState, edit: VersionEdit): ManifestState {
  const levels = state.levels.map((l) => l.slice());
  for (const r of edit.remove ?? []) {
    const l = levels[r.level]!;
    const i = l.findIndex((f) => f.number === r.number);
    if (i >= 0) l.splice(i, 1);
  }
  for (const a of edit.add ?? []) levels[a.level]!.push(a.file);
  levels[0]!.sort((a, b) => b.largestSeq - a.largestSeq || b.number - a.number);
  for (let i = 1; i < levels.length; i++) {
    levels[i]!.sort((a, b) => Buffer.compare(a.smallest, b.smallest));
  }
  return {
    levels,
    logNumber: edit.logNumber ?? state.logNumber,
    nextFileNumber: Math.max(edit.nextFileNumber ?? 0, state.nextFileNumber),
    lastSeq: Math.max(edit.lastSeq ?? 0, state.lastSeq),
  };
}

export function fileName(number: number, ext: 'log' | 'sst'): string {
  return `${String(number).padStart(6, '0')}.${ext}`;
}

export function manifestName(number: number): string {
  return `MANIFEST-${String(number).padStart(6, '0')}`;
}

/** Reads CURRENT and replays the manifest it names. Returns null for an empty directory. */
export function readManifest(fs: FS, dir: string): { state: ManifestState; manifest: string } | null {
  const currentPath = `${dir}/CURRENT`;
  if (!fs.exists(currentPath)) return null;
  const name = new TextDecoder().decode(fs.readFile(currentPath)).trim();
  if (!/^MANIFEST-\d+$/.test(name)) {
    throw new CorruptedError(`${currentPath} does not name a manifest (${JSON.stringify(name.slice(0, 40))})`, { file: currentPath });
  }
  const path = `${dir}/${name}`;
  if (!fs.exists(path)) throw new CorruptedError(`CURRENT names ${name}, which does not exist in ${dir}`, { file: path });
  let state = emptyState();
  let first = true;
  readLog(fs.readFile(path), path, (record) => {
    const edit = decodeEdit(record, path);
    if (first) {
      checkHeader(edit, dir);
      first = false;
    }
    state = applyEdit(state, edit);
  });
  if (first) throw new CorruptedError(`manifest ${path} holds no records`, { file: path });
  return { state, manifest: name };
}

function checkHeader(edit: VersionEdit, dir: string): void {
  if (edit.magic !== MANIFEST_MAGIC) {
    throw new CorruptedError(`${dir} is not a flashkv-lsm directory (manifest magic ${JSON.stringify(edit.magic)})`, { dir });
  }
  if (edit.format !== FORMAT_VERSION) {
    throw new InvalidArgumentError(
      `${dir} was written in flashkv-lsm format version ${String(edit.format)}; this build reads format version ${FORMAT_VERSION} only`,
      { dir, format: edit.format, supported: FORMAT_VERSION },
    );
  }
}

/**
 * Appends version edits to the live manifest. A new manifest starts with a snapshot of the
 * whole state and is published by writing CURRENT.tmp, fsyncing it and renaming it over
 * CURRENT: rename is atomic, so a crash leaves CURRENT naming either the old or the new one.
 */
export class ManifestWriter {
  private constructor(
    private readonly fs: FS,
    private readonly log: LogWriter,
    readonly name: string,
  ) {}

  static async create(fs: FS, dir: string, number: number, state: ManifestState): Promise<ManifestWriter> {
    const name = manifestName(number);
    const log = new LogWriter(fs.create(`${dir}/${name}`));
    const all: { level: number; file: FileMeta }[] = [];
    state.levels.forEach((files, level) => files.forEach((file) => all.push({ level, file })));
    log.add(encodeEdit({ magic: MANIFEST_MAGIC, format: FORMAT_VERSION }));
    log.add(encodeEdit({ logNumber: state.logNumber, nextFileNumber: state.nextFileNumber, lastSeq: state.lastSeq, add: all }));
    log.flush();
    await log.sync();
    const tmp = `${dir}/CURRENT.tmp`;
    const cur = fs.create(tmp);
    cur.append(new TextEncoder().encode(`${name}\n`));
    await cur.sync();
    cur.close();
    fs.rename(tmp, `${dir}/CURRENT`);
    await fs.syncDir(dir);
    return new ManifestWriter(fs, log, name);
  }

  /** Durably appends an edit (the change is live once this resolves). */
  async append(edit: VersionEdit): Promise<void> {
    this.log.add(encodeEdit(edit));
    this.log.flush();
    await this.log.sync();
  }

  close(): void {
    this.log.close();
  }
}
