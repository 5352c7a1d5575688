import { nodeFS, type FS, type ReadableFile, type WritableFile } from '../src/fs.js';

/**
 * What a simulated power cut leaves behind, shared by every `CrashFS` generation on one
 * directory: per file, how many bytes an fsync has made durable. Directory operations
 * (create, rename, unlink) count as durable at once: the model loses file data, not names.
 */
export class Disk {
  /** Durable length per path, for every file written through a CrashFS. */
  readonly synced = new Map<string, number>();
  /** Current length per path (what the page cache holds). */
  readonly written = new Map<string, number>();
  crashes = 0;
  tornBytes = 0;

  /**
   * The power cut: every file keeps its synced bytes plus, if `tear` says so, a prefix of its
   * unsynced bytes (a torn tail). `tear(unsynced)` returns how many unsynced bytes survive.
   */
  cut(tear: (unsynced: number) => number): void {
    this.crashes++;
    for (const [path, size] of this.written) {
      const durable = Math.min(this.synced.get(path) ?? 0, size);
      if (size <= durable) continue;
      const keep = durable + Math.max(0, Math.min(size - durable, tear(size - durable)));
      if (!nodeFS.exists(path)) continue;
      nodeFS.truncate(path, keep);
      this.tornBytes += size - keep;
      this.written.set(path, keep);
      this.synced.set(path, keep);
    }
  }
}

class DeadError extends Error {
  readonly code = 'EIO';
  constructor(op: string, path: string) {
    super(`EIO: crashed filesystem refuses ${op} '${path}' (the engine using it was abandoned by a simulated crash)`);
  }
}

/**
 * A filesystem over node:fs that remembers what was fsynced, so a test can cut the power:
 * `kill()` makes this generation refuse every further operation (the abandoned engine's
 * background work dies with it), then `disk.cut()` drops unsynced data, and a new CrashFS
 * on the same Disk opens the directory again.
 */
export class CrashFS implements FS {
  private dead = false;

  constructor(readonly disk: Disk) {}

  kill(): void {
    this.dead = true;
  }

  private live(op: string, path: string): void {
    if (this.dead) throw new DeadError(op, path);
  }

  private track(path: string, inner: WritableFile): WritableFile {
    const disk = this.disk;
    const self = this;
    disk.written.set(path, inner.size());
    if (!disk.synced.has(path)) disk.synced.set(path, 0);
    return {
      path,
      append(data: Uint8Array): void {
        self.live('write', path);
        inner.append(data);
        disk.written.set(path, inner.size());
      },
      async sync(): Promise<void> {
        self.live('fsync', path);
        const size = inner.size();
        // The Disk model decides what survives, so no real fsync is needed; yielding once
        // keeps the call asynchronous and the interleaving a pure function of the seed.
        await new Promise<void>((resolve) => setImmediate(resolve));
        // A crash while the fsync was in flight: nothing is promised for it.
        if (self.dead) throw new DeadError('fsync', path);
        disk.synced.set(path, Math.max(disk.synced.get(path) ?? 0, size));
      },
      size: () => inner.size(),
      close: () => inner.close(),
    };
  }

  mkdirp(dir: string): void {
    this.live('mkdir', dir);
    nodeFS.mkdirp(dir);
  }
  create(path: string): WritableFile {
    this.live('create', path);
    this.disk.synced.set(path, 0);
    return this.track(path, nodeFS.create(path));
  }
  openAppend(path: string): WritableFile {
    this.live('open', path);
    const f = nodeFS.openAppend(path);
    // A file this model never saw was complete before the test started.
    if (!this.disk.synced.has(path)) this.disk.synced.set(path, f.size());
    return this.track(path, f);
  }
  open(path: string): ReadableFile {
    this.live('open', path);
    return nodeFS.open(path);
  }
  readFile(path: string): Uint8Array {
    this.live('read', path);
    return nodeFS.readFile(path);
  }
  rename(from: string, to: string): void {
    this.live('rename', from);
    nodeFS.rename(from, to);
    const s = this.disk.synced.get(from);
    const w = this.disk.written.get(from);
    this.disk.synced.delete(from);
    this.disk.written.delete(from);
    if (s !== undefined) this.disk.synced.set(to, s);
    else this.disk.synced.delete(to);
    if (w !== undefined) this.disk.written.set(to, w);
    else this.disk.written.delete(to);
  }
  unlink(path: string): void {
    this.live('unlink', path);
    nodeFS.unlink(path);
    this.disk.synced.delete(path);
    this.disk.written.delete(path);
  }
  readdir(dir: string): string[] {
    this.live('readdir', dir);
    return nodeFS.readdir(dir);
  }
  exists(path: string): boolean {
    this.live('stat', path);
    return nodeFS.exists(path);
  }
  truncate(path: string, size: number): void {
    this.live('truncate', path);
    nodeFS.truncate(path, size);
    if (this.disk.written.has(path)) this.disk.written.set(path, Math.min(this.disk.written.get(path)!, size));
    if (this.disk.synced.has(path)) this.disk.synced.set(path, Math.min(this.disk.synced.get(path)!, size));
  }
  async syncDir(dir: string): Promise<void> {
    this.live('fsync', dir);
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}
