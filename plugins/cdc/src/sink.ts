import { createWriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import type { Observable, Subscription } from 'rxjs';
import { KvError } from '@flashkv/core';
import type { FeedFlow } from './cdc.js';
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
  /** Lines held by the sink while the stream is full: now, and the most ever (at most `maxBufferedEvents`). */
  buffered(): { readonly now: number; readonly peak: number };
}

export interface JsonLinesOptions {
  /** End the stream when the feed ends (default true; stdout must stay open: false). */
  readonly end?: boolean;
  /**
   * The FeedFlow the feed was opened with: while the stream is full (`write()` returned false)
   * the feed is paused, so events wait in its bounded queue (CDC_LAGGING past its limit) and the
   * sink holds none (except what the feed delivers as it completes). Without it the sink holds
   * lines itself, up to `maxBufferedEvents`.
   */
  readonly flow?: FeedFlow;
  /** Lines the sink may hold while waiting for 'drain' before it fails with CDC_LAGGING. Default 10,000. */
  readonly maxBufferedEvents?: number;
}

/**
 * Writes a feed as JSON lines to a stream (process.stdout, a file stream, a socket), respecting
 * the stream's back-pressure: once `write()` returns false nothing more is written until 'drain'
 * (lines that arrive meanwhile wait in a bounded queue, and the feed is paused when its `flow`
 * is given). The stream is ended when the feed completes unless `end: false`.
 */
export function writeJsonLines(feed: Observable<CdcEvent>, out: Writable, options: JsonLinesOptions = {}): JsonLinesSink {
  const max = options.maxBufferedEvents ?? 10_000;
  if (!Number.isInteger(max) || max < 1) throw new KvError('INVALID_ARGUMENT', `maxBufferedEvents must be a positive integer, got ${max}`);
  const flow = options.flow;
  let subscription!: Subscription;
  let waiting = false;
  let buffer: string[] = [];
  let peak = 0;
  // Set once completion, an error or the unsubscribe owns the ending.
  let ending = false;
  const onDrain = () => {
    waiting = false;
    let i = 0;
    while (i < buffer.length) {
      if (!out.write(buffer[i++]!)) {
        waiting = true;
        break;
      }
    }
    buffer = i === buffer.length ? [] : buffer.slice(i);
    if (waiting) out.once('drain', onDrain);
    else flow?.resume();
  };
  /**
   * The feed ended: the held lines (at most the bound) are handed to the stream at once, so a
   * stream that never drains cannot keep `done` from settling.
   */
  const flushHeld = () => {
    for (const line of buffer) out.write(line);
    buffer = [];
    waiting = false;
    out.off('drain', onDrain);
  };
  const endStream = (resolve: () => void) => {
    if (options.end === false) out.write('', () => resolve());
    else out.end(() => resolve());
  };
  const done = new Promise<void>((resolve, reject) => {
    subscription = feed.subscribe({
      next: (e) => {
        if (ending) return;
        const line = eventToJson(e) + '\n';
        if (waiting) {
          // With a flow the feed holds events while paused (bounded there); only its completion
          // delivers past a pause, and that is bounded by the feed's own limit.
          if (flow === undefined && buffer.length >= max) {
            ending = true;
            const err = new KvError('CDC_LAGGING', `JSON-lines sink holds ${buffer.length} lines waiting for the stream to drain (limit ${max})`, { pending: buffer.length });
            queueMicrotask(() => subscription.unsubscribe());
            flushHeld();
            if (options.end !== false) out.end();
            reject(err);
            return;
          }
          buffer.push(line);
          if (buffer.length > peak) peak = buffer.length;
          return;
        }
        if (!out.write(line)) {
          waiting = true;
          flow?.pause();
          out.once('drain', onDrain);
        }
      },
      error: (err: unknown) => {
        if (ending) return;
        ending = true;
        flushHeld();
        if (options.end !== false) out.end();
        reject(err);
      },
      complete: () => {
        if (ending) return;
        ending = true;
        flushHeld();
        endStream(resolve);
      },
    });
    // Unsubscribing stops the sink too: held lines are written, the stream is ended (flushed) and `done` resolves.
    subscription.add(() => {
      if (ending) return;
      ending = true;
      flushHeld();
        endStream(resolve);
    });
  });
  return { subscription, done, buffered: () => ({ now: buffer.length, peak }) };
}

/** `writeJsonLines` to a file (appended, so a restarted feed continues the same file). */
export function writeJsonLinesFile(feed: Observable<CdcEvent>, path: string, options: Omit<JsonLinesOptions, 'end'> = {}): JsonLinesSink {
  return writeJsonLines(feed, createWriteStream(path, { flags: 'a' }), options);
}
