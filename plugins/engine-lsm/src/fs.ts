import * as nodeFs from 'node:fs';
import { dirname } from 'node:path';

/**
 * The filesystem the engine sees (Pebble's `vfs.FS`): every byte the engine reads or writes
 * goes through one of these, so tests can inject faults (`FaultFS`) without touching the
 * engine. Reads are synchronous because `StorageEngine` reads are; appends are synchronous
 * too (they only reach the OS page cache, which survives `kill -9`); `sync()` is the one
 * slow call and is asynchronous so the event loop keeps queuing writers while the disk
 * flushes: that is what lets group commit share one fsync among many writers.
 */
export interface WritableFile {
  readonly path: string;
  /** Appends every byte of `data` or throws; after a throw some prefix may have landed. */
  append(data: Uint8Array): void;
  /** Makes everything appended so far durable (fsync). */
  sync(): Promise<void>;
  /** Bytes appended through this handle plus the size the file had when opened. */
  size(): number;
  close(): void;
}

export interface ReadableFile {
  readonly path: string;
  readonly size: number;
  /** Reads up to `length` bytes at `position` into `buf[bufOffset..]`; returns bytes read. */
  read(buf: Uint8Array, bufOffset: number, length: number, position: number): number;
  close(): void;
}

export interface FS {
  mkdirp(dir: string): void;
  /** Creates (or truncates) a file for appending. */
  create(path: string): WritableFile;
  /** Opens an existing file for appending at its end. */
  openAppend(path: string): WritableFile;
  open(path: string): ReadableFile;
  readFile(path: string): Uint8Array;
  /** Atomically replaces `to` with `from` (POSIX rename). */
  rename(from: string, to: string): void;
  unlink(path: string): void;
  readdir(dir: string): string[];
  exists(path: string): boolean;
  truncate(path: string, size: number): void;
  /** fsync of a directory: makes creates, renames and unlinks in it durable. */
  syncDir(dir: string): Promise<void>;
}

/** Reads all of `length` bytes or returns fewer only at end of file. */
export function readFully(file: ReadableFile, buf: Uint8Array, length: number, position: number): number {
  let got = 0;
  while (got < length) {
    const n = file.read(buf, got, length - got, position + got);
    if (n === 0) break;
    got += n;
  }
  return got;
}

function fsyncAsync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => nodeFs.fsync(fd, (err) => (err ? reject(err) : resolve())));
}

class NodeWritableFile implements WritableFile {
  private fd: number;
  private bytes: number;

  constructor(
    readonly path: string,
    truncate: boolean,
  ) {
    this.fd = nodeFs.openSync(path, truncate ? 'w' : 'a');
    this.bytes = truncate ? 0 : nodeFs.fstatSync(this.fd).size;
  }

  append(data: Uint8Array): void {
    let off = 0;
    while (off < data.length) {
      const n = nodeFs.writeSync(this.fd, data, off, data.length - off);
      off += n;
      this.bytes += n;
    }
  }

  sync(): Promise<void> {
    return fsyncAsync(this.fd);
  }

  size(): number {
    return this.bytes;
  }

  close(): void {
    if (this.fd >= 0) {
      nodeFs.closeSync(this.fd);
      this.fd = -1;
    }
  }
}

class NodeReadableFile implements ReadableFile {
  private fd: number;
  readonly size: number;

  constructor(readonly path: string) {
    this.fd = nodeFs.openSync(path, 'r');
    this.size = nodeFs.fstatSync(this.fd).size;
  }

  read(buf: Uint8Array, bufOffset: number, length: number, position: number): number {
    return nodeFs.readSync(this.fd, buf, bufOffset, length, position);
  }

  close(): void {
    if (this.fd >= 0) {
      nodeFs.closeSync(this.fd);
      this.fd = -1;
    }
  }
}

/** The real filesystem through node:fs. */
export class NodeFS implements FS {
  mkdirp(dir: string): void {
    nodeFs.mkdirSync(dir, { recursive: true });
  }
  create(path: string): WritableFile {
    return new NodeWritableFile(path, true);
  }
  openAppend(path: string): WritableFile {
    return new NodeWritableFile(path, false);
  }
  open(path: string): ReadableFile {
    return new NodeReadableFile(path);
  }
  readFile(path: string): Uint8Array {
    const b = nodeFs.readFileSync(path);
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  }
  rename(from: string, to: string): void {
    nodeFs.renameSync(from, to);
  }
  unlink(path: string): void {
    nodeFs.unlinkSync(path);
  }
  readdir(dir: string): string[] {
    return nodeFs.readdirSync(dir);
  }
  exists(path: string): boolean {
    return nodeFs.existsSync(path);
  }
  truncate(path: string, size: number): void {
    nodeFs.truncateSync(path, size);
  }
  async syncDir(dir: string): Promise<void> {
    const fd = nodeFs.openSync(dir, 'r');
    try {
      await fsyncAsync(fd);
    } finally {
      nodeFs.closeSync(fd);
    }
  }
}

export const nodeFS: FS = new NodeFS();

/** The directory part of a path (re-exported so engine code never imports node:path itself). */
export const parentDir = dirname;
