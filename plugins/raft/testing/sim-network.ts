import type { Rng } from '@flashkv/core/testing';
import type { Message } from '../src/core/index.js';

export interface NetworkOptions {
  /** Probability that a sent message is lost. Default 0. */
  readonly dropRate?: number;
  /** Probability that a sent message is delivered twice. Default 0. */
  readonly duplicateRate?: number;
  /** Each copy is delivered 0..maxDelay ticks after it is sent. Default 0. */
  readonly maxDelay?: number;
}

export interface Envelope {
  readonly seq: number;
  readonly msg: Message;
  readonly deliverAt: number;
}

/**
 * A simulated network in simulated time. Losses, duplicates and delays are drawn from a seeded
 * Rng at send time; reordering comes from the driver picking any deliverable envelope, and
 * partitions cut links at delivery time (so messages already in flight are lost too).
 */
export class SimNetwork {
  private queue: Envelope[] = [];
  private seq = 0;
  private readonly blocked = new Set<string>();
  readonly dropRate: number;
  readonly duplicateRate: number;
  readonly maxDelay: number;
  sent = 0;
  dropped = 0;
  duplicated = 0;

  constructor(private readonly rng: Rng, options: NetworkOptions = {}) {
    this.dropRate = options.dropRate ?? 0;
    this.duplicateRate = options.duplicateRate ?? 0;
    this.maxDelay = options.maxDelay ?? 0;
  }

  /** Returns false if the message was lost on the way out. */
  send(msg: Message, now: number): boolean {
    this.sent++;
    if (this.dropRate > 0 && this.rng.chance(this.dropRate)) {
      this.dropped++;
      return false;
    }
    this.enqueue(msg, now);
    if (this.duplicateRate > 0 && this.rng.chance(this.duplicateRate)) {
      this.duplicated++;
      this.enqueue(msg, now);
    }
    return true;
  }

  private enqueue(msg: Message, now: number): void {
    const delay = this.maxDelay > 0 ? this.rng.int(this.maxDelay + 1) : 0;
    this.queue.push({ seq: this.seq++, msg, deliverAt: now + delay });
  }

  /** Envelopes whose delay has passed, oldest first. */
  deliverable(now: number): Envelope[] {
    return this.queue.filter((e) => e.deliverAt <= now);
  }

  /** Everything in flight, oldest first, regardless of delay. */
  inFlight(): Envelope[] {
    return this.queue.slice();
  }

  pending(): number {
    return this.queue.length;
  }

  take(env: Envelope): void {
    const at = this.queue.indexOf(env);
    if (at < 0) throw new Error(`envelope ${env.seq} is not in flight`);
    this.queue.splice(at, 1);
  }

  /** Removes and returns everything in flight (a driver dropping all messages). */
  takeAll(): Envelope[] {
    const all = this.queue;
    this.queue = [];
    return all;
  }

  isBlocked(from: number, to: number): boolean {
    return this.blocked.has(`${from}>${to}`);
  }

  /** Cuts every link between nodes in different groups. */
  partition(groups: readonly (readonly number[])[]): void {
    for (let i = 0; i < groups.length; i++) {
      for (let j = 0; j < groups.length; j++) {
        if (i === j) continue;
        for (const a of groups[i]!) for (const b of groups[j]!) this.blocked.add(`${a}>${b}`);
      }
    }
  }

  /** Cuts one direction of one link. */
  cut(from: number, to: number): void {
    this.blocked.add(`${from}>${to}`);
  }

  heal(): void {
    this.blocked.clear();
  }

  isPartitioned(): boolean {
    return this.blocked.size > 0;
  }
}
