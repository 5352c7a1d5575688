import { createConnection, type Socket } from 'node:net';
import {
  OP_APPLIED_COUNT,
  OP_GET,
  OP_ISOLATE,
  OP_MPUT,
  OP_PUT,
  OP_STATUS,
  OP_TRANSFER,
  decodeResponse,
  encodeRequest,
  readU64,
  type Request,
  type Response,
} from './protocol.js';
import type { NetAddress } from './tcp-transport.js';
import type { NodeStatus } from './node.js';
import { FrameDecoder, ROLE_CLIENT, WIRE_VERSION, decodeHelloOk, encodeHello, frame } from './wire.js';

/** A failed request. `certain`: it did not take effect. `code` UNAVAILABLE/TIMEOUT: the outcome is unknown for a write. */
export class RaftClientError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly certain: boolean,
    readonly leaderStore = 0,
  ) {
    super(`${code}: ${message}`);
    this.name = 'RaftClientError';
  }
}

/**
 * One client connection to one node, requests multiplexed by id. Requests issued in the same
 * turn of the event loop (many callers awaiting together) leave in one socket write.
 */
class NodeConn {
  private socket: Socket | undefined;
  private ready: Promise<void> | undefined;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve(r: Response): void; reject(e: unknown): void; timer: ReturnType<typeof setTimeout> }>();
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private flushQueued = false;
  /** RaftClients sharing this connection (see `acquire`). */
  refs = 0;

  constructor(
    readonly storeId: number,
    private readonly address: NetAddress,
    private readonly token: string,
  ) {}

  private connect(): Promise<void> {
    if (this.ready) return this.ready;
    this.ready = new Promise<void>((resolve, reject) => {
      const s = createConnection({ host: this.address.host, port: this.address.port });
      s.setNoDelay(true);
      this.socket = s;
      const decoder = new FrameDecoder(64 * 1024 * 1024);
      let up = false;
      s.on('connect', () => s.write(frame(encodeHello({ version: WIRE_VERSION, role: ROLE_CLIENT, storeId: 0, token: new TextEncoder().encode(this.token) }))));
      s.on('data', (chunk: Buffer) => {
        try {
          for (const body of decoder.push(chunk)) {
            if (!up) {
              decodeHelloOk(body);
              up = true;
              resolve();
              continue;
            }
            const r = decodeResponse(body);
            const w = this.waiting.get(r.id);
            if (!w) continue;
            this.waiting.delete(r.id);
            clearTimeout(w.timer);
            w.resolve(r);
          }
        } catch (e) {
          s.destroy(e as Error);
        }
      });
      s.on('error', () => undefined);
      s.on('close', () => {
        if (this.socket === s) {
          this.socket = undefined;
          this.ready = undefined;
        }
        const err = new RaftClientError('UNAVAILABLE', `connection to store ${this.storeId} closed`, false);
        if (!up) reject(new RaftClientError('UNAVAILABLE', `could not connect to store ${this.storeId}`, true));
        for (const [id, w] of this.waiting) {
          clearTimeout(w.timer);
          this.waiting.delete(id);
          w.reject(err);
        }
      });
    });
    return this.ready;
  }

  async request(req: Request, timeoutMs: number): Promise<Response> {
    await this.connect();
    const s = this.socket;
    if (!s) throw new RaftClientError('UNAVAILABLE', `no connection to store ${this.storeId}`, false);
    const id = this.nextId++ >>> 0;
    return new Promise<Response>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new RaftClientError('TIMEOUT', `store ${this.storeId} did not answer within ${timeoutMs} ms`, false));
      }, timeoutMs);
      this.waiting.set(id, { resolve, reject, timer });
      this.enqueue(s, frame(encodeRequest(id, req)));
    });
  }

  private enqueue(s: Socket, bytes: Uint8Array): void {
    this.pending.push(bytes);
    this.pendingBytes += bytes.length;
    if (this.flushQueued) return;
    this.flushQueued = true;
    // After the callers resumed in this turn (promise jobs included) have queued theirs.
    process.nextTick(() => {
      this.flushQueued = false;
      const parts = this.pending;
      const size = this.pendingBytes;
      this.pending = [];
      this.pendingBytes = 0;
      if (s.destroyed) return;
      if (parts.length === 1) s.write(parts[0]!);
      else s.write(Buffer.concat(parts, size));
    });
  }

  close(): void {
    this.socket?.destroy();
  }
}

/**
 * Connections shared by every RaftClient of this process that talks to the same node with the
 * same token (like a gRPC channel): concurrent callers' requests and the node's answers travel
 * together, one socket write and one read per turn instead of one per request.
 */
const sharedConns = new Map<string, NodeConn>();

function acquire(storeId: number, address: NetAddress, token: string, shared: boolean): NodeConn {
  if (!shared) {
    const c = new NodeConn(storeId, address, token);
    c.refs = 1;
    return c;
  }
  const key = `${storeId}@${address.host}:${address.port}/${token}`;
  let c = sharedConns.get(key);
  if (!c) {
    c = new NodeConn(storeId, address, token);
    sharedConns.set(key, c);
  }
  c.refs++;
  return c;
}

function release(c: NodeConn): void {
  if (--c.refs > 0) return;
  for (const [k, v] of sharedConns) if (v === c) sharedConns.delete(k);
  c.close();
}

export interface RaftClientOptions {
  /** Every node's address by store id. */
  readonly nodes: ReadonlyMap<number, NetAddress>;
  readonly token: string;
  /** Per attempt. Default 2000 ms. */
  readonly timeoutMs?: number;
  /** Give up after this long trying to find a leader. Default 10000 ms. */
  readonly deadlineMs?: number;
  /**
   * Share one connection per node with the other RaftClients of this process (requests of
   * concurrent callers batched on the wire). Default true; false gives this client its own.
   */
  readonly sharedConnections?: boolean;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * A client of a raft node cluster: sends each request to the store it believes leads, follows
 * NOT_LEADER hints, and retries elsewhere only what certainly did not take effect (reads always).
 * A write whose outcome is unknown (connection lost, timeout, superseded) is thrown to the caller
 * with `certain: false` unless `retryUnknown` is set (for idempotent puts).
 */
export class RaftClient {
  private readonly conns = new Map<number, NodeConn>();
  private leader: number;
  private readonly ids: number[];

  constructor(private readonly options: RaftClientOptions) {
    this.ids = [...options.nodes.keys()].sort((a, b) => a - b);
    this.leader = this.ids[0]!;
  }

  private conn(storeId: number): NodeConn {
    let c = this.conns.get(storeId);
    if (!c) {
      const addr = this.options.nodes.get(storeId);
      if (!addr) throw new RaftClientError('INVALID_ARGUMENT', `unknown store ${storeId}`, true);
      c = acquire(storeId, addr, this.options.token, this.options.sharedConnections ?? true);
      this.conns.set(storeId, c);
    }
    return c;
  }

  /** Sends to one store only, no routing (status, test hooks). */
  async direct(storeId: number, req: Request): Promise<Uint8Array> {
    const r = await this.conn(storeId).request(req, this.options.timeoutMs ?? 2000);
    if (!r.ok) throw new RaftClientError(r.code, r.message, r.certain, r.leaderStore);
    return r.payload;
  }

  /** Routes to the leader. `retryUnknown`: retry also when the outcome is unknown (idempotent requests). */
  async call(req: Request, retryUnknown: boolean): Promise<Uint8Array> {
    const deadline = Date.now() + (this.options.deadlineMs ?? 10000);
    let target = this.leader;
    let last: unknown;
    while (Date.now() < deadline) {
      try {
        const r = await this.conn(target).request(req, this.options.timeoutMs ?? 2000);
        if (r.ok) {
          this.leader = target;
          return r.payload;
        }
        last = new RaftClientError(r.code, r.message, r.certain, r.leaderStore);
        if (r.code === 'NOT_LEADER' && (r.certain || retryUnknown)) {
          if (r.leaderStore !== 0 && r.leaderStore !== target) target = r.leaderStore;
          else {
            await sleep(50);
            target = this.next(target);
          }
          continue;
        }
        if (r.code === 'ENGINE_CLOSED' && (r.certain || retryUnknown)) {
          target = this.next(target);
          continue;
        }
        throw last;
      } catch (e) {
        if (!(e instanceof RaftClientError) || (e.code !== 'UNAVAILABLE' && e.code !== 'TIMEOUT')) throw e;
        last = e;
        // A connection that never came up sent nothing; one lost mid-request, or a timeout, may have.
        if (!e.certain && !retryUnknown) throw e;
        await sleep(50);
        target = this.next(target);
      }
    }
    throw last instanceof Error ? last : new RaftClientError('UNAVAILABLE', 'no leader found before the deadline', false);
  }

  private next(storeId: number): number {
    const i = this.ids.indexOf(storeId);
    return this.ids[(i + 1) % this.ids.length]!;
  }

  async put(key: Uint8Array, value: Uint8Array, retryUnknown = true): Promise<bigint> {
    return readU64(await this.call({ op: OP_PUT, key, value }, retryUnknown));
  }

  async mput(pairs: readonly (readonly [Uint8Array, Uint8Array])[], retryUnknown = true): Promise<bigint> {
    return readU64(await this.call({ op: OP_MPUT, pairs }, retryUnknown));
  }

  async get(key: Uint8Array): Promise<Uint8Array | undefined> {
    const p = await this.call({ op: OP_GET, key }, true);
    return p[0] === 1 ? p.subarray(1) : undefined;
  }

  /** True if moved, false if `from` had too little. Not retried when its outcome is unknown. */
  async transfer(from: Uint8Array, to: Uint8Array, amount: bigint, record: Uint8Array): Promise<boolean> {
    const p = await this.call({ op: OP_TRANSFER, from, to, amount, record }, false);
    return p[0] === 1;
  }

  async status(storeId: number): Promise<NodeStatus> {
    return JSON.parse(new TextDecoder().decode(await this.direct(storeId, { op: OP_STATUS })));
  }

  async isolate(storeId: number, stores: readonly number[]): Promise<void> {
    await this.direct(storeId, { op: OP_ISOLATE, stores });
  }

  async appliedCount(storeId: number, key: Uint8Array): Promise<number> {
    return Number(readU64(await this.direct(storeId, { op: OP_APPLIED_COUNT, key })));
  }

  close(): void {
    for (const c of this.conns.values()) release(c);
    this.conns.clear();
  }
}
