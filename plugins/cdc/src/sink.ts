import { createWriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import type { Observable, Subscription } from 'rxjs';
import type { CdcEvent } from './events.js';

/**
 * One event as a JSON object on one line: keys and values hex (they are arbitrary bytes),
 * timestamps decimal strings (u64 does not fit a JSON number), an absent value omitted.
 */
export function eventToJson(e: CdcEvent): string {
  const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex');
  switch (e.type) {
    case 'resolvedTs':
      return JSON.stringify({ type: e.type, regionId: e.regionId, ts: String(e.ts) });
    case 'globalResolvedTs':
      return JSON.stringify({ type: e.type, ts: String(e.ts) });
    case 'rollback':
      return JSON.stringify({ type: e.type, regionId: e.regionId, key: hex(e.key), startTs: String(e.startTs) });
    case 'prewrite':
      return JSON.stringify({ type: e.type, regionId: e.regionId, key: hex(e.key), op: e.op, ...(e.value !== undefined ? { value: hex(e.value) } : {}), startTs: String(e.startTs) });
    case 'commit':
    case 'committed':
      return JSON.stringify({
        type: e.type,
        regionId: e.regionId,
        key: hex(e.key),
        op: e.op,
        ...(e.value !== undefined ? { value: hex(e.value) } : {}),
        ...('oldValue' in e ? { oldValue: e.oldValue === undefined ? null : hex(e.oldValue) } : {}),
        startTs: String(e.startTs),
        commitTs: String(e.commitTs),
      });
  }
}

export interface JsonLinesSink {
  readonly subscription: Subscription;
  /** Resolves when the feed completed (or was unsubscribed) and every line is flushed; rejects with the feed's error (e.g. CDC_LAGGING). */
  readonly done: Promise<void>;
}

/**
 * Writes a feed as JSON lines to a stream (process.stdout, a file stream, a socket). The stream is
 * ended when the feed completes unless `end: false` (stdout must stay open).
 */
export function writeJsonLines(feed: Observable<CdcEvent>, out: Writable, options: { readonly end?: boolean } = {}): JsonLinesSink {
  let subscription!: Subscription;
  // Set once completion or an error owns the ending, so the teardown that follows does not
  // resolve `done` before the stream has flushed.
  let ending = false;
  const done = new Promise<void>((resolve, reject) => {
    subscription = feed.subscribe({
      next: (e) => void out.write(eventToJson(e) + '\n'),
      error: (err: unknown) => {
        ending = true;
        if (options.end !== false) out.end();
        reject(err);
      },
      complete: () => {
        ending = true;
        if (options.end === false) out.write('', () => resolve());
        else out.end(() => resolve());
      },
    });
    // Unsubscribing stops the sink too: the stream is ended (flushed) and `done` resolves.
    subscription.add(() => {
      if (ending) return;
      ending = true;
      if (options.end !== false) out.end(() => resolve());
      else out.write('', () => resolve());
    });
  });
  return { subscription, done };
}

/** `writeJsonLines` to a file (appended, so a restarted feed continues the same file). */
export function writeJsonLinesFile(feed: Observable<CdcEvent>, path: string): JsonLinesSink {
  return writeJsonLines(feed, createWriteStream(path, { flags: 'a' }));
}
