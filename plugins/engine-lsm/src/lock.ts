import * as nodeFs from 'node:fs';
import { resolve } from 'node:path';
import { KvError } from '@flashkv/core';

/**
 * The directory LOCK (LevelDB's LOCK file, without flock, which Node lacks): one engine per
 * directory. The file is created exclusively ('wx') and names its owner as
 * `pid <pid> start <process start time>`; a second open fails with DIRECTORY_LOCKED while
 * the owner lives. A LOCK left by a process that died (kill -9) is stale and taken over:
 * the owner is dead when its pid is gone or, on Linux, when that pid now belongs to a process
 * that started at another time (pid reuse). Inside one process a registry of held
 * directories decides, since the pid is ours either way.
 *
 * Limits: two processes taking over the same stale LOCK at the same instant can race
 * (the takeover re-reads the file to catch most of it); a directory on a network filesystem
 * shared between machines is not protected (pids are per machine).
 */
const held = new Set<string>();

export const LOCK_FILE = 'LOCK';

/**
 * Start time of `pid` in clock ticks since boot (Linux /proc), or null if there is no such
 * live process (a zombie, killed but not yet reaped by its parent, counts as dead).
 */
function startTime(pid: number): string | null {
  try {
    const stat = nodeFs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    // Field 2 (comm) may hold spaces and parentheses: count fields after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (rest[0] === 'Z' || rest[0] === 'X') return null; // field 3, state
    return rest[19] ?? null; // field 22, starttime
  } catch {
    return null;
  }
}

function alive(pid: number, start: string | null): boolean {
  if (nodeFs.existsSync('/proc/self/stat')) {
    const now = startTime(pid);
    if (now === null) return false;
    return start === null || start === now;
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function owner(text: string): { pid: number; start: string | null } | null {
  const m = /^pid (\d+)(?: start (\S+))?/.exec(text);
  return m === null ? null : { pid: Number(m[1]), start: m[2] ?? null };
}

function locked(dir: string, why: string, details: Record<string, unknown>): KvError {
  return new KvError('DIRECTORY_LOCKED', `engine-lsm cannot open ${dir}: ${why}; close that engine first (one engine per directory)`, { dir, ...details });
}

/** A held directory lock; `release` is idempotent. */
export class DirLock {
  private released = false;

  private constructor(
    private readonly key: string,
    private readonly path: string,
    private readonly token: string,
  ) {}

  /** Takes the lock of `dir` (which must exist) or throws KvError DIRECTORY_LOCKED. */
  static acquire(dir: string): DirLock {
    const key = resolve(dir);
    if (held.has(key)) throw locked(dir, 'this process already has it open', { pid: process.pid });
    const path = `${key}/${LOCK_FILE}`;
    const token = `pid ${process.pid} start ${startTime(process.pid) ?? '?'}\n`;
    for (let attempt = 0; ; attempt++) {
      try {
        const fd = nodeFs.openSync(path, 'wx');
        try {
          nodeFs.writeSync(fd, token);
        } finally {
          nodeFs.closeSync(fd);
        }
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 3) throw e;
      }
      let text: string;
      try {
        text = nodeFs.readFileSync(path, 'latin1');
      } catch {
        continue; // Gone between the create and the read: try again.
      }
      const who = owner(text);
      // An empty or unreadable LOCK is what a crash between create and write leaves behind.
      if (who !== null && who.pid !== process.pid && alive(who.pid, who.start)) {
        throw locked(dir, `process ${who.pid} holds ${path}`, { pid: who.pid });
      }
      // Stale (a dead owner, or this process's own from an engine it never closed): take it over,
      // unless someone else replaced it in the meantime.
      try {
        if (nodeFs.readFileSync(path, 'latin1') === text) nodeFs.unlinkSync(path);
      } catch {
        // Already removed: the next attempt creates it.
      }
    }
    if (nodeFs.readFileSync(path, 'latin1') !== token) throw locked(dir, 'another process took the lock at the same moment', {});
    held.add(key);
    return new DirLock(key, path, token);
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    held.delete(this.key);
    try {
      if (nodeFs.readFileSync(this.path, 'latin1') === this.token) nodeFs.unlinkSync(this.path);
    } catch {
      // Removed by hand or never readable: nothing to give back.
    }
  }
}
