import type { FS, ReadableFile, WritableFile } from './fs.js';

/** An error shaped like the ones node:fs throws, so the engine's handling is the real one. */
export function ioError(code: 'EIO' | 'ENOSPC', op: string, path: string): NodeJS.ErrnoException {
  const text = code === 'ENOSPC' ? 'no space left on device' : 'i/o error';
  return Object.assign(new Error(`${code}: ${text}, ${op} '${path}'`), { code, syscall: op, path });
}

/**
 * Faults a `FaultFS` injects, each limited to files whose path `match` accepts (default all).
 * - `shortWrite`: the next append writes only `bytes` bytes of its data, then throws EIO.
 * - `failSync`: every `sync()` throws EIO (the data may or may not have reached the disk).
 * - `spaceLeft`: total bytes appends may still write; an append beyond it writes what fits
 *   and throws ENOSPC, as a full disk does.
 */
export interface FaultPlan {
  shortWrite?: { bytes: number };
  failSync?: boolean;
  spaceLeft?: number;
  match?: (path: string) => boolean;
}

/**
 * A wrapper that injects I/O faults (Pebble's `errorfs`). Change `plan` at any time; the
 * counters let tests assert a fault actually fired.
 */
export class FaultFS implements FS {
  plan: FaultPlan = {};
  readonly fired = { shortWrite: 0, failSync: 0, enospc: 0 };

  constructor(readonly inner: FS) {}

  private applies(path: string): boolean {
    return this.plan.match === undefined || this.plan.match(path);
  }

  private wrap(file: WritableFile): WritableFile {
    const self = this;
    return {
      path: file.path,
      append(data: Uint8Array): void {
        const plan = self.plan;
        if (!self.applies(file.path)) return file.append(data);
        if (plan.shortWrite !== undefined) {
          const n = Math.min(plan.shortWrite.bytes, data.length);
          plan.shortWrite = undefined;
          self.fired.shortWrite++;
          if (n > 0) file.append(data.subarray(0, n));
          if (plan.spaceLeft !== undefined) plan.spaceLeft = Math.max(0, plan.spaceLeft - n);
          throw ioError('EIO', 'write', file.path);
        }
        if (plan.spaceLeft !== undefined) {
          if (data.length > plan.spaceLeft) {
            const n = plan.spaceLeft;
            if (n > 0) file.append(data.subarray(0, n));
            plan.spaceLeft = 0;
            self.fired.enospc++;
            throw ioError('ENOSPC', 'write', file.path);
          }
          plan.spaceLeft -= data.length;
        }
        file.append(data);
      },
      async sync(): Promise<void> {
        if (self.plan.failSync && self.applies(file.path)) {
          self.fired.failSync++;
          throw ioError('EIO', 'fsync', file.path);
        }
        return file.sync();
      },
      size: () => file.size(),
      close: () => file.close(),
    };
  }

  mkdirp(dir: string): void {
    this.inner.mkdirp(dir);
  }
  create(path: string): WritableFile {
    if (this.plan.spaceLeft === 0 && this.applies(path)) {
      this.fired.enospc++;
      throw ioError('ENOSPC', 'open', path);
    }
    return this.wrap(this.inner.create(path));
  }
  openAppend(path: string): WritableFile {
    return this.wrap(this.inner.openAppend(path));
  }
  open(path: string): ReadableFile {
    return this.inner.open(path);
  }
  readFile(path: string): Uint8Array {
    return this.inner.readFile(path);
  }
  rename(from: string, to: string): void {
    this.inner.rename(from, to);
  }
  unlink(path: string): void {
    this.inner.unlink(path);
  }
  readdir(dir: string): string[] {
    return this.inner.readdir(dir);
  }
  exists(path: string): boolean {
    return this.inner.exists(path);
  }
  truncate(path: string, size: number): void {
    this.inner.truncate(path, size);
  }
  async syncDir(dir: string): Promise<void> {
    if (this.plan.failSync && this.applies(dir)) {
      this.fired.failSync++;
      throw ioError('EIO', 'fsync', dir);
    }
    return this.inner.syncDir(dir);
  }
}
