import { createHash, timingSafeEqual } from 'node:crypto';
import { createConnection, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { RaftEnvelope, RaftReceiver, Transport } from '../store/transport.js';
import {
  DEFAULT_MAX_FRAME_BYTES,
  FRAME_RAFT,
  FRAME_REQUEST,
  FrameDecoder,
  FrameError,
  ROLE_CLIENT,
  ROLE_PEER,
  WIRE_VERSION,
  decodeHello,
  decodeHelloOk,
  decodeRaftFrame,
  encodeEnvelope,
  encodeHello,
  encodeHelloOk,
  encodeRaftFrame,
  frame,
} from './wire.js';

export interface NetAddress {
  readonly host: string;
  readonly port: number;
}

/** A receiver that can take a batch of envelopes in one turn (the store drives each peer once). */
export interface BatchRaftReceiver extends RaftReceiver {
  receiveMany?(envelopes: readonly RaftEnvelope[]): Promise<void>;
}

/** One accepted client connection: frames in, frames out. */
export interface ClientConnection {
  send(body: Uint8Array): void;
  readonly remote: string;
}

export interface TcpTransportOptions {
  readonly storeId: number;
  /** Where to listen (port 0 picks one; see `address()`). */
  readonly listen: NetAddress;
  /** Every other store's listen address. */
  readonly peers: ReadonlyMap<number, NetAddress>;
  /** The shared cluster secret every connection must present in its hello. */
  readonly token: string | Uint8Array;
  /** Largest frame body sent or accepted. Default 64 MiB. */
  readonly maxFrameBytes?: number;
  /** Reconnect backoff: first delay and cap, in ms. Default 50 and 2000. */
  readonly backoffMinMs?: number;
  readonly backoffMaxMs?: number;
  /** Messages held for a peer whose connection is not up yet; beyond it they are dropped. Default 10000. */
  readonly maxQueuedPerPeer?: number;
  /** A connection must say hello within this long. Default 5000 ms. */
  readonly helloTimeoutMs?: number;
  /**
   * An append that carries no entries (a leader telling a caught-up follower its new commit
   * index) may wait this long for other traffic to the same store, so both share one frame; the
   * next batch's append usually comes first. Nothing that waits for an answer is delayed.
   * Default 0 (sent in the same turn as everything else).
   */
  readonly lazyCommitMs?: number;
  /** Client REQUEST frames, if this node serves clients on the same port. */
  readonly onRequest?: (body: Uint8Array, conn: ClientConnection) => void;
}

export interface TcpTransportStats {
  framesSent: number;
  framesReceived: number;
  messagesSent: number;
  messagesReceived: number;
  /** Messages dropped because their peer was down, cut off, backed up or too large. */
  messagesDropped: number;
  /** Connections closed for a protocol violation (garbage, oversized frame, bad token, late hello). */
  rejected: number;
  /** Outbound connections that came up (the first and every reconnect). */
  connects: number;
  /** Outbound connection attempts that failed or were lost. */
  connectFailures: number;
}

const tokenDigest = (t: string | Uint8Array): Buffer => createHash('sha256').update(typeof t === 'string' ? Buffer.from(t, 'utf8') : t).digest();

/** Constant-time token check: both sides are hashed to the same length first. */
export function tokenMatches(expected: Buffer, presented: Uint8Array): boolean {
  return timingSafeEqual(expected, tokenDigest(presented));
}

type PeerState = 'idle' | 'connecting' | 'up' | 'backoff';

/** The outbound half towards one store: a queue, one socket, a backoff timer. */
class OutboundPeer {
  state: PeerState = 'idle';
  socket: Socket | undefined;
  queue: RaftEnvelope[] = [];
  backoff: number;
  timer: ReturnType<typeof setTimeout> | undefined;
  flushScheduled = false;
  /** A flush that waits `lazyCommitMs` because only commit-only appends are queued. */
  lazyTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    readonly storeId: number,
    public address: NetAddress,
    backoffMin: number,
  ) {
    this.backoff = backoffMin;
  }
}

/**
 * Raft between processes over TCP (issue 8 part 6). Each store listens on one port; towards each
 * other store it keeps one outbound connection that carries its messages, so order per pair is
 * kept. Messages sent in one turn of the event loop go out together in one RAFT frame (batching),
 * split so no frame exceeds `maxFrameBytes`. A lost connection is retried with exponential
 * backoff; while a peer is unreachable its messages are dropped (raft retries) and the store is
 * told (`reportUnreachable`, `reportSnapshot(false)`).
 *
 * Every connection starts with a hello carrying the cluster token, compared in constant time; a
 * connection that presents a wrong token, breaks the framing (zero or oversized length, unknown
 * frame type, an undecodable body) or stays silent is closed, and nothing else is affected.
 * Inbound envelopes are handed to the receiver in batches, one batch in flight at a time.
 */
export class TcpTransport implements Transport {
  readonly stats: TcpTransportStats = { framesSent: 0, framesReceived: 0, messagesSent: 0, messagesReceived: 0, messagesDropped: 0, rejected: 0, connects: 0, connectFailures: 0 };
  private readonly server: Server;
  private readonly token: Buffer;
  private readonly maxFrame: number;
  private readonly backoffMin: number;
  private readonly backoffMax: number;
  private readonly maxQueued: number;
  private readonly helloTimeout: number;
  private readonly out = new Map<number, OutboundPeer>();
  private readonly inbound = new Set<Socket>();
  private receiver: BatchRaftReceiver | undefined;
  private inQueue: RaftEnvelope[] = [];
  private delivering = false;
  private readonly cut = new Set<number>();
  private closed = false;
  /** The last errors from delivering into the receiver (a stopped store); the transport keeps going. */
  readonly errors: unknown[] = [];

  private noteError(e: unknown): void {
    if (this.errors.length >= 100) this.errors.shift();
    this.errors.push(e);
  }

  constructor(private readonly options: TcpTransportOptions) {
    if (!Number.isSafeInteger(options.storeId) || options.storeId <= 0) throw new TypeError(`storeId must be a positive integer, got ${options.storeId}`);
    const tok = typeof options.token === 'string' ? Buffer.from(options.token, 'utf8') : options.token;
    if (tok.length === 0) throw new TypeError('a cluster token is required');
    this.token = tokenDigest(options.token);
    this.maxFrame = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    this.backoffMin = options.backoffMinMs ?? 50;
    this.backoffMax = options.backoffMaxMs ?? 2000;
    this.maxQueued = options.maxQueuedPerPeer ?? 10000;
    this.helloTimeout = options.helloTimeoutMs ?? 5000;
    for (const [id, addr] of options.peers) {
      if (id !== options.storeId) this.out.set(id, new OutboundPeer(id, addr, this.backoffMin));
    }
    this.server = createServer((s) => this.accept(s));
  }

  /** Where inbound raft messages go (the store). */
  attach(receiver: BatchRaftReceiver): void {
    this.receiver = receiver;
    if (this.inQueue.length > 0 && !this.delivering) void this.pump();
  }

  /** Starts listening; resolves with the bound address. */
  start(): Promise<NetAddress> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.listen.port, this.options.listen.host, () => {
        this.server.off('error', reject);
        resolve(this.address());
      });
    });
  }

  address(): NetAddress {
    const a = this.server.address() as AddressInfo;
    return { host: a.address, port: a.port };
  }

  /** Adds or moves a peer (its next connection goes to the new address). */
  setPeer(storeId: number, address: NetAddress): void {
    if (storeId === this.options.storeId) return;
    const old = this.out.get(storeId);
    if (old) {
      old.address = address;
      return;
    }
    this.out.set(storeId, new OutboundPeer(storeId, address, this.backoffMin));
  }

  /** Test hook: drop all raft traffic to and from these stores (a partition at this node). */
  isolate(storeIds: Iterable<number>): void {
    this.cut.clear();
    for (const s of storeIds) this.cut.add(s);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const p of this.out.values()) {
      if (p.timer) clearTimeout(p.timer);
      if (p.lazyTimer) clearTimeout(p.lazyTimer);
      p.socket?.destroy();
      p.queue = [];
    }
    for (const s of this.inbound) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  // ---- outbound ----

  send(env: RaftEnvelope): void {
    if (this.closed) return;
    const p = this.out.get(env.toStore);
    if (!p || this.cut.has(env.toStore)) {
      this.drop([env]);
      return;
    }
    if (p.state === 'backoff') {
      this.drop([env]);
      return;
    }
    if (p.queue.length >= this.maxQueued) {
      this.drop([env]);
      return;
    }
    p.queue.push(env);
    if (p.state === 'idle') this.connect(p);
    else if (p.state === 'up' && !p.flushScheduled) {
      const lazy = this.options.lazyCommitMs ?? 0;
      if (lazy > 0 && env.message.type === 'app' && (env.message.entries === undefined || env.message.entries.length === 0)) {
        if (p.lazyTimer === undefined) {
          p.lazyTimer = setTimeout(() => {
            p.lazyTimer = undefined;
            this.flush(p);
          }, lazy);
        }
        return;
      }
      p.flushScheduled = true;
      setImmediate(() => this.flush(p));
    }
  }

  private drop(envs: readonly RaftEnvelope[]): void {
    this.stats.messagesDropped += envs.length;
    const r = this.receiver;
    if (!r) return;
    const seen = new Set<string>();
    for (const e of envs) {
      const report = e.message.type === 'snap' ? r.reportSnapshot(e.regionId, e.message.to, false) : undefined;
      const k = `${e.regionId}:${e.message.to}`;
      const un = seen.has(k) ? undefined : (seen.add(k), r.reportUnreachable(e.regionId, e.message.to));
      report?.catch((err) => this.noteError(err));
      un?.catch((err) => this.noteError(err));
    }
  }

  private connect(p: OutboundPeer): void {
    p.state = 'connecting';
    const s = createConnection({ host: p.address.host, port: p.address.port });
    s.setNoDelay(true);
    p.socket = s;
    const decoder = new FrameDecoder(1024);
    let up = false;
    s.on('connect', () => {
      s.write(frame(encodeHello({ version: WIRE_VERSION, role: ROLE_PEER, storeId: this.options.storeId, token: typeof this.options.token === 'string' ? Buffer.from(this.options.token, 'utf8') : this.options.token })));
    });
    s.on('data', (chunk: Buffer) => {
      if (up) return; // the listener side sends nothing after its hello ok
      try {
        for (const body of decoder.push(chunk)) {
          const id = decodeHelloOk(body);
          if (id !== p.storeId) throw new FrameError(`store ${p.storeId}'s address answered as store ${id}`);
          up = true;
          p.state = 'up';
          p.backoff = this.backoffMin;
          this.stats.connects++;
          this.flush(p);
          break;
        }
      } catch {
        s.destroy();
      }
    });
    s.on('error', () => undefined);
    s.on('close', () => {
      if (p.socket !== s) return;
      p.socket = undefined;
      this.stats.connectFailures++;
      const lost = p.queue;
      p.queue = [];
      this.drop(lost);
      if (this.closed) return;
      p.state = 'backoff';
      const delay = p.backoff;
      p.backoff = Math.min(this.backoffMax, p.backoff * 2);
      p.timer = setTimeout(() => {
        p.timer = undefined;
        if (this.closed) return;
        p.state = 'idle';
        this.connect(p);
      }, delay);
      p.timer.unref?.();
    });
  }

  private flush(p: OutboundPeer): void {
    p.flushScheduled = false;
    if (p.lazyTimer !== undefined) {
      clearTimeout(p.lazyTimer);
      p.lazyTimer = undefined;
    }
    const s = p.socket;
    if (p.state !== 'up' || !s || p.queue.length === 0) return;
    const batch = p.queue;
    p.queue = [];
    if (this.cut.has(p.storeId)) {
      this.drop(batch);
      return;
    }
    let parts: Uint8Array[] = [];
    let snaps: RaftEnvelope[] = [];
    let size = 5;
    const emit = (): void => {
      if (parts.length === 0) return;
      const body = encodeRaftFrame(parts);
      const sentSnaps = snaps;
      this.stats.framesSent++;
      this.stats.messagesSent += parts.length;
      s.write(frame(body), (err) => {
        if (sentSnaps.length === 0 || !this.receiver) return;
        for (const e of sentSnaps) this.receiver.reportSnapshot(e.regionId, e.message.to, !err).catch((x) => this.noteError(x));
      });
      parts = [];
      snaps = [];
      size = 5;
    };
    for (const env of batch) {
      const enc = encodeEnvelope(env);
      if (enc.length + 5 > this.maxFrame) {
        this.drop([env]);
        continue;
      }
      if (size + enc.length > this.maxFrame) emit();
      parts.push(enc);
      size += enc.length;
      if (env.message.type === 'snap') snaps.push(env);
    }
    emit();
  }

  // ---- inbound ----

  private accept(s: Socket): void {
    if (this.closed) {
      s.destroy();
      return;
    }
    this.inbound.add(s);
    s.setNoDelay(true);
    const decoder = new FrameDecoder(this.maxFrame);
    let role = 0;
    let from = 0;
    const timer = setTimeout(() => reject(), this.helloTimeout);
    timer.unref?.();
    // Answers settled in the same turn (a batch of writes applying together) leave in one write.
    let out: Uint8Array[] = [];
    let outBytes = 0;
    const flushOut = (): void => {
      const parts = out;
      const size = outBytes;
      out = [];
      outBytes = 0;
      if (s.destroyed) return;
      if (parts.length === 1) s.write(parts[0]!);
      else s.write(Buffer.concat(parts, size));
    };
    const conn: ClientConnection = {
      remote: `${s.remoteAddress}:${s.remotePort}`,
      send: (body) => {
        if (s.destroyed) return;
        const f = frame(body);
        out.push(f);
        outBytes += f.length;
        if (out.length === 1) process.nextTick(flushOut);
      },
    };
    const reject = (): void => {
      if (s.destroyed) return;
      this.stats.rejected++;
      s.destroy();
    };
    s.on('data', (chunk: Buffer) => {
      if (s.destroyed) return;
      try {
        for (const body of decoder.push(chunk)) {
          this.stats.framesReceived++;
          if (role === 0) {
            const h = decodeHello(body);
            if (h.version !== WIRE_VERSION || (h.role !== ROLE_PEER && h.role !== ROLE_CLIENT)) throw new FrameError('unsupported hello');
            if (!tokenMatches(this.token, h.token)) throw new FrameError('wrong cluster token');
            if (h.role === ROLE_PEER && (h.storeId === this.options.storeId || h.storeId === 0)) throw new FrameError('bad peer store id');
            if (h.role === ROLE_CLIENT && !this.options.onRequest) throw new FrameError('this node serves no clients');
            role = h.role;
            from = h.storeId;
            clearTimeout(timer);
            s.write(frame(encodeHelloOk(this.options.storeId)));
            continue;
          }
          if (role === ROLE_PEER) {
            if (body[0] !== FRAME_RAFT) throw new FrameError(`unexpected frame type ${body[0]} from a peer`);
            const envs = decodeRaftFrame(body, from);
            for (const e of envs) if (e.toStore !== this.options.storeId) throw new FrameError(`message for store ${e.toStore} sent to store ${this.options.storeId}`);
            this.stats.messagesReceived += envs.length;
            if (this.cut.has(from)) continue;
            this.deliver(envs);
          } else {
            if (body[0] !== FRAME_REQUEST) throw new FrameError(`unexpected frame type ${body[0]} from a client`);
            this.options.onRequest!(body, conn);
          }
        }
      } catch (e) {
        if (e instanceof FrameError) reject();
        else {
          this.noteError(e);
          reject();
        }
      }
    });
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(timer);
      this.inbound.delete(s);
    });
  }

  private deliver(envs: RaftEnvelope[]): void {
    for (const e of envs) this.inQueue.push(e);
    if (!this.delivering) void this.pump();
  }

  private async pump(): Promise<void> {
    this.delivering = true;
    try {
      while (this.inQueue.length > 0 && this.receiver && !this.closed) {
        const batch = this.inQueue;
        this.inQueue = [];
        const r = this.receiver;
        try {
          if (r.receiveMany) await r.receiveMany(batch);
          else for (const e of batch) await r.receive(e);
        } catch (e) {
          this.noteError(e);
        }
      }
    } finally {
      this.delivering = false;
    }
  }
}
