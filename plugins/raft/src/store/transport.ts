import type { Message } from '../core/index.js';

/** One raft message between stores, addressed by region so the receiving store finds the peer. */
export interface RaftEnvelope {
  readonly regionId: number;
  readonly fromStore: number;
  readonly toStore: number;
  readonly message: Message;
}

/** What a store needs from the network: fire-and-forget delivery (raft tolerates loss). */
export interface Transport {
  send(envelope: RaftEnvelope): void;
}

/** What a transport delivers into. */
export interface RaftReceiver {
  readonly storeId: number;
  receive(envelope: RaftEnvelope): Promise<void>;
  reportSnapshot(regionId: number, toPeer: number, delivered: boolean): Promise<void>;
  reportUnreachable(regionId: number, toPeer: number): Promise<void>;
}

/** Injected randomness for the in-process transport's faults (the core's Rng shape). */
export interface TransportRng {
  float(): number;
}

export interface InProcessTransportOptions {
  /** Probability a message is dropped; needs `rng`. Default 0. */
  readonly dropRate?: number;
  readonly rng?: TransportRng;
  /**
   * Deliver on its own, soon after a send (setImmediate), for a live in-process cluster.
   * Default false: the simulation decides when the network moves.
   */
  readonly autoDeliver?: boolean;
}

/**
 * Connects stores in one process. Nothing is delivered when sent: messages queue until
 * `deliverAll()` (or `flush()`), so a test or a driver decides when the network moves and runs
 * replay exactly. Partitions cut links at delivery time, both directions; a cut or dropped
 * snapshot is reported to its sender as not delivered, as a real transport would.
 */
export class InProcessTransport implements Transport {
  private readonly stores = new Map<number, RaftReceiver>();
  private queue: RaftEnvelope[] = [];
  private groups: Map<number, number> | undefined;
  private readonly down = new Set<number>();
  private readonly dropRate: number;
  private readonly rng: TransportRng | undefined;
  /** Messages handed to `send` in total, for tests and stats. */
  sent = 0;
  /** Delivery failures seen by automatic delivery. */
  readonly errors: unknown[] = [];
  private readonly autoDeliver: boolean;
  private scheduled = false;

  constructor(options: InProcessTransportOptions = {}) {
    this.dropRate = options.dropRate ?? 0;
    this.rng = options.rng;
    this.autoDeliver = options.autoDeliver ?? false;
    if (this.dropRate > 0 && !this.rng) throw new TypeError('InProcessTransport: dropRate needs an injected rng');
  }

  register(store: RaftReceiver): void {
    this.stores.set(store.storeId, store);
    this.down.delete(store.storeId);
  }

  /** A crashed store: it neither receives nor is reported to until registered again. */
  unregister(storeId: number): void {
    this.stores.delete(storeId);
    this.down.add(storeId);
  }

  send(envelope: RaftEnvelope): void {
    this.sent++;
    this.queue.push(envelope);
    if (this.autoDeliver && !this.scheduled) {
      this.scheduled = true;
      setImmediate(() => void this.pump());
    }
  }

  private async pump(): Promise<void> {
    try {
      while (this.queue.length > 0) await this.flush();
    } catch (e) {
      // A receiver that stopped under us: the message is lost, as on a real network.
      this.errors.push(e);
    } finally {
      this.scheduled = false;
      if (this.queue.length > 0 && this.autoDeliver) {
        this.scheduled = true;
        setImmediate(() => void this.pump());
      }
    }
  }

  /** Splits the stores into groups that only talk among themselves. */
  partition(groups: readonly (readonly number[])[]): void {
    this.groups = new Map();
    groups.forEach((g, i) => g.forEach((s) => this.groups!.set(s, i)));
  }

  heal(): void {
    this.groups = undefined;
  }

  pending(): number {
    return this.queue.length;
  }

  private connected(a: number, b: number): boolean {
    if (!this.groups) return true;
    return this.groups.get(a) === this.groups.get(b);
  }

  /** Delivers what is queued now (not what those deliveries send); returns how many were delivered. */
  async flush(): Promise<number> {
    const batch = this.queue;
    this.queue = [];
    let delivered = 0;
    for (const env of batch) {
      const to = this.stores.get(env.toStore);
      const from = this.stores.get(env.fromStore);
      const lost = !to || !this.connected(env.fromStore, env.toStore) || (this.dropRate > 0 && this.rng!.float() < this.dropRate);
      if (lost) {
        if (from && env.message.type === 'snap') await from.reportSnapshot(env.regionId, env.message.to, false);
        continue;
      }
      try {
        await to.receive(env);
      } catch (e) {
        // The receiver stopped between the check and the delivery: the message is lost.
        this.errors.push(e);
        continue;
      }
      delivered++;
      if (from && env.message.type === 'snap') await from.reportSnapshot(env.regionId, env.message.to, true);
    }
    return delivered;
  }

  /** Delivers until the network is quiet (bounded, so a livelock surfaces as an error). */
  async deliverAll(maxRounds = 1000): Promise<void> {
    for (let i = 0; i < maxRounds; i++) {
      if (this.queue.length === 0) return;
      await this.flush();
    }
    throw new Error(`InProcessTransport: still ${this.queue.length} messages after ${maxRounds} rounds`);
  }
}
