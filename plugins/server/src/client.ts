import * as grpc from '@grpc/grpc-js';
import { codec, compareBytes, InvalidArgumentError, isKvError, type FlashbackPreview, type FlashbackProgress, type FlashbackRunOptions, type StorageMutation } from '@flashkv/core';
import type { CdcEvent } from '@flashkv/cdc';
import { eventOf } from './cdc-wire.js';
import { ERROR_CODE_KEY, ERROR_DETAILS_KEY, fromServiceError } from './errors.js';
import { flashKvService } from './proto.js';

export interface FlashKvClientOptions {
  /**
   * `host:port` of a FlashKV server; several, comma-separated, name nodes of one cluster: calls
   * that go to no region in particular use the first that answers, and move on to the next when
   * one is unreachable.
   */
  readonly endpoint: string;
  /** Sent as `authorization: Bearer <token>`; leave out for a server that authenticates by client certificate only. */
  readonly token?: string;
  /** Connect over TLS: `ca` verifies the server; `cert` + `key` are this client's certificate for mutual TLS. */
  readonly tls?: ClientTlsOptions;
  /** Per-call deadline in ms (default 30 s; streams have none). */
  readonly deadlineMs?: number;
  readonly maxMessageBytes?: number;
  /**
   * Route by region (default true): keys are grouped by the regions of a cached directory (from
   * `regions()`), each request carries its region's id and epoch, and NOT_LEADER,
   * EPOCH_NOT_MATCH, REGION_NOT_FOUND, KEY_NOT_IN_REGION and SERVER_BUSY are retried with
   * backoff after refreshing the directory. false: send requests unrouted, no retries.
   */
  readonly regionAware?: boolean;
  /**
   * Extra grpc-js channel options. Clients made with equal options share one TCP connection
   * (grpc-js's global subchannel pool); `{ 'grpc.use_local_subchannel_pool': 1 }` gives this
   * client a connection of its own.
   */
  readonly channelOptions?: grpc.ChannelOptions;
  /**
   * Send Tso, Get, BatchGet, Prewrite, Commit and Rollback as ops of Batch calls (default
   * false): what many concurrent callers of this client ask while a batch is in flight goes out
   * together in the next one, so one gRPC call carries many requests. Each request still
   * resolves or fails on its own.
   */
  readonly batching?: boolean;
  /**
   * How batches travel: 'stream' (default) as messages of one long-lived BatchStream call, or
   * 'unary' as one Batch call each. A stream batch has no deadline of its own; a broken stream
   * fails its pending requests and the next batch opens a new one.
   */
  readonly batchTransport?: 'stream' | 'unary';
  /** Batches in flight at once when batching (default 2). */
  readonly maxInflightBatches?: number;
  /** Ops per Batch call (default 256, at most the server's 1024). */
  readonly maxBatchOps?: number;
  /** Attempts per request part before a region error is passed on (default 12). */
  readonly maxRegionAttempts?: number;
  /** First backoff in ms (default 2), doubled per attempt up to 250, with jitter. */
  readonly backoffMs?: number;
}

/** Region errors a region-aware client retries after refreshing its region directory. */
export const REGION_RETRYABLE: ReadonlySet<string> = new Set(['NOT_LEADER', 'EPOCH_NOT_MATCH', 'REGION_NOT_FOUND', 'KEY_NOT_IN_REGION', 'SERVER_BUSY']);

/** What the region-aware client did, for tests and operators. */
export interface RegionClientStats {
  /** Region directory fetches (the first one included). */
  refreshes: number;
  /** Request parts retried, by KvError code. */
  retries: Record<string, number>;
}

interface RegionWire {
  readonly regionId: string;
  readonly version: string;
  readonly confVer: string;
}

/** Method -> its BatchOp oneof member. */
const BATCHABLE: Readonly<Record<string, string>> = { Tso: 'tso', Get: 'get', BatchGet: 'batchGet', Prewrite: 'prewrite', Commit: 'commit', Rollback: 'rollback' };

interface Queued {
  readonly kind: string;
  readonly req: Raw;
  resolve(r: Raw): void;
  reject(e: unknown): void;
}

/** A failed op of a batch as the error its own call would have failed with. */
function batchOpError(e: Raw): Error {
  const code = num(e['grpcCode']);
  const message = String(e['message'] ?? '');
  const metadata = new grpc.Metadata();
  if (typeof e['kvCode'] === 'string' && e['kvCode'] !== '') metadata.set(ERROR_CODE_KEY, e['kvCode']);
  if (typeof e['kvDetails'] === 'string' && e['kvDetails'] !== '') metadata.set(ERROR_DETAILS_KEY, e['kvDetails']);
  const se = Object.assign(new Error(`${code} ${grpc.status[code] ?? ''}: ${message}`), { code, details: message, metadata });
  return fromServiceError(se);
}

interface CachedRegion {
  readonly info: RegionInfo;
  readonly context: RegionWire;
  /** The gRPC address of the leader's store, when the server said. */
  readonly leader: string | undefined;
}

/** gRPC statuses that mean the node was not reached (or went away): try another address. */
const UNREACHABLE = new Set<number>([grpc.status.UNAVAILABLE]);

function unreachable(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'number' && UNREACHABLE.has(code);
}

/** PEM strings or buffers. */
export interface ClientTlsOptions {
  readonly ca: string | Buffer;
  readonly cert?: string | Buffer;
  readonly key?: string | Buffer;
  /** The name to check the server's certificate against, when it differs from the endpoint's host. */
  readonly serverName?: string;
}

const pemBuf = (v: string | Buffer | undefined): Buffer | null => (v === undefined ? null : typeof v === 'string' ? Buffer.from(v) : v);

function channelCredentials(tls: ClientTlsOptions | undefined): grpc.ChannelCredentials {
  if (tls === undefined) return grpc.credentials.createInsecure();
  if ((tls.cert === undefined) !== (tls.key === undefined)) throw new TypeError('client tls needs both cert and key, or neither');
  return grpc.credentials.createSsl(pemBuf(tls.ca), pemBuf(tls.key), pemBuf(tls.cert));
}

export interface KvPairBytes {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
}

export interface RegionInfo {
  readonly id: number;
  readonly startKey: Uint8Array;
  readonly endKey: Uint8Array;
  readonly epoch: { readonly confVer: number; readonly version: number };
  /** `address`: the gRPC address of the peer's store ('' when the server does not know it). */
  readonly peers: ReadonlyArray<{ readonly id: number; readonly storeId: number; readonly role: string; readonly address: string }>;
  readonly inFlashback: boolean;
  readonly flashbackStartTs: bigint;
  /** The leader peer as the answering node knows it; 0 when unknown. */
  readonly leaderPeerId: number;
}

export interface GcSafePointInfo {
  readonly safePoint: bigint;
  readonly paused: boolean;
  readonly pausedBy: readonly string[];
}

export interface GcRunResult {
  readonly safePoint: bigint;
  readonly paused: boolean;
  readonly keys: number;
  readonly deletedVersions: number;
}

export type RemoteTxnStatus = { readonly kind: string; readonly commitTs?: bigint; readonly ttl?: bigint; readonly minCommitTs?: bigint; readonly lockTs?: bigint };

export type RemoteFlashbackProgress = Omit<FlashbackProgress, 'etaMs' | 'error'>;

type Raw = Record<string, unknown>;
const big = (v: unknown): bigint => BigInt(String(v ?? '0'));
const num = (v: unknown): number => Number(v ?? 0);

function progressOf(m: Raw): RemoteFlashbackProgress {
  return {
    jobId: String(m['jobId']),
    phase: m['phase'] as FlashbackProgress['phase'],
    version: big(m['version']),
    startTs: big(m['startTs']),
    commitTs: big(m['commitTs']),
    regionsTotal: num(m['regionsTotal']),
    regionsPrepared: num(m['regionsPrepared']),
    regionsFinished: num(m['regionsFinished']),
    locksRolledBack: num(m['locksRolledBack']),
    locksCommitted: num(m['locksCommitted']),
    keysRewritten: num(m['keysRewritten']),
    keysPerSecond: num(m['keysPerSecond']),
    elapsedMs: num(m['elapsedMs']),
  };
}

function regionOf(g: Raw): RegionInfo {
  return {
    id: num(g['id']),
    startKey: g['startKey'] as Uint8Array,
    endKey: g['endKey'] as Uint8Array,
    epoch: { confVer: num(g['confVer']), version: num(g['version']) },
    peers: (g['peers'] as Raw[]).map((p) => ({ id: num(p['id']), storeId: num(p['storeId']), role: String(p['role']), address: String(p['address'] ?? '') })),
    inFlashback: g['inFlashback'] === true,
    flashbackStartTs: big(g['flashbackStartTs']),
    leaderPeerId: num(g['leaderPeerId']),
  };
}

function gcInfoOf(r: Raw): GcSafePointInfo {
  return { safePoint: big(r['safePoint']), paused: r['paused'] === true, pausedBy: ((r['pausedBy'] as unknown[] | undefined) ?? []).map(String) };
}

function targetOf(o: FlashbackRunOptions): Raw {
  const t: Raw = {};
  if (o.version !== undefined) t['version'] = o.version.toString();
  else if (typeof o.time === 'string') t['time'] = o.time;
  else if (o.time instanceof Date) t['time'] = o.time.toISOString();
  else throw new InvalidArgumentError('flashback needs a version or a time');
  if (o.startKey !== undefined) t['startKey'] = o.startKey;
  if (o.endKey !== undefined) t['endKey'] = o.endKey;
  if (o.lockPolicy !== undefined) t['lockPolicy'] = o.lockPolicy;
  return t;
}

/**
 * The Storage / placement / flashback API of a remote node over gRPC, with the in-process
 * method names and types (bigint timestamps, Uint8Array keys). Failures reject with the
 * server's KvError (same `code`), or with the grpc-js error for transport and auth failures.
 */
type Stub = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

export class FlashKvClient {
  /** The stub of `home`, the address unrouted calls (and batches) go to. */
  private stub: Stub;
  private home: string;
  /** Every address known: the endpoints given, then store addresses learned from the region list. */
  private readonly addresses: string[];
  private readonly stubs = new Map<string, Stub>();
  private readonly makeStub: (address: string) => Stub;
  /** Region id -> leader address from a NOT_LEADER hint, newer than the cached directory. */
  private readonly leaderHints = new Map<number, string>();
  private readonly md = new grpc.Metadata();
  private readonly deadlineMs: number;
  private readonly regionAware: boolean;
  private readonly maxAttempts: number;
  private readonly backoffMs: number;
  /** The cached directory in key order (encoded bounds), or undefined until fetched / after a region error. */
  private directory: CachedRegion[] | undefined;
  private refreshing: Promise<CachedRegion[]> | undefined;
  readonly stats: RegionClientStats = { refreshes: 0, retries: {} };
  private readonly batching: boolean;
  private readonly maxInflightBatches: number;
  private readonly maxBatchOps: number;
  private queue: Queued[] = [];
  private inflightBatches = 0;
  private flushScheduled = false;
  private readonly batchTransport: 'stream' | 'unary';
  private batchStream: grpc.ClientDuplexStream<Raw, Raw> | undefined;
  private readonly streamWaiting = new Map<string, Queued[]>();
  private nextBatchId = 1;
  /** Batch calls sent and ops they carried (batching only). */
  readonly batchStats = { batches: 0, ops: 0 };

  constructor(options: FlashKvClientOptions) {
    const Ctor = grpc.makeGenericClientConstructor(flashKvService(), 'FlashKv');
    const max = options.maxMessageBytes ?? 16 * 1024 * 1024;
    const creds = channelCredentials(options.tls);
    this.makeStub = (address) =>
      new Ctor(address, creds, {
        'grpc.max_receive_message_length': max,
        'grpc.max_send_message_length': max,
        ...(options.tls?.serverName !== undefined ? { 'grpc.ssl_target_name_override': options.tls.serverName, 'grpc.default_authority': options.tls.serverName } : {}),
        ...options.channelOptions,
      }) as never;
    this.addresses = String(options.endpoint).split(',').map((a) => a.trim()).filter((a) => a !== '');
    if (this.addresses.length === 0) throw new TypeError('FlashKvClient needs an endpoint "host:port"');
    this.home = this.addresses[0]!;
    this.stub = this.stubFor(this.home);
    if (options.token !== undefined) this.md.set('authorization', `Bearer ${options.token}`);
    this.deadlineMs = options.deadlineMs ?? 30_000;
    this.regionAware = options.regionAware !== false;
    this.maxAttempts = options.maxRegionAttempts ?? 12;
    this.backoffMs = options.backoffMs ?? 2;
    this.batching = options.batching === true;
    this.maxInflightBatches = Math.max(1, options.maxInflightBatches ?? 2);
    this.maxBatchOps = Math.min(1024, Math.max(1, options.maxBatchOps ?? 256));
    this.batchTransport = options.batchTransport ?? 'stream';
  }

  private stubFor(address: string): Stub {
    let st = this.stubs.get(address);
    if (st === undefined) this.stubs.set(address, (st = this.makeStub(address)));
    return st;
  }

  /** The address unrouted calls go to now. */
  get endpoint(): string {
    return this.home;
  }

  /** `address` did not answer: if it is home, the next known address becomes home. */
  private unreachableAt(address: string): void {
    for (const [id, a] of this.leaderHints) if (a === address) this.leaderHints.delete(id);
    if (address !== this.home || this.addresses.length < 2) return;
    const i = this.addresses.indexOf(address);
    this.home = this.addresses[(i + 1) % this.addresses.length]!;
    this.stub = this.stubFor(this.home);
    const stream = this.batchStream;
    this.batchStream = undefined;
    stream?.cancel();
  }

  /**
   * Learns from a failed routed call: a NOT_LEADER naming the leader's address is remembered for
   * the region; an unreachable node is left. True when the call is worth retrying.
   */
  private learn(e: unknown, regionId: number | undefined, address: string): boolean {
    if (isKvError(e)) {
      if (!REGION_RETRYABLE.has(e.code)) return false;
      const hint = e.details['leaderAddress'];
      if (e.code === 'NOT_LEADER' && regionId !== undefined) {
        if (typeof hint === 'string' && hint !== '') {
          this.leaderHints.set(regionId, hint);
          if (!this.addresses.includes(hint)) this.addresses.push(hint);
        } else this.leaderHints.delete(regionId);
      }
      return true;
    }
    if (unreachable(e)) {
      // Another address if there is one; with one, the same again after a backoff (a restarting node).
      this.unreachableAt(address);
      return true;
    }
    return false;
  }

  /** Where a request for a cached region goes: a NOT_LEADER hint, else the leader the directory named, else home. */
  private addressOf(r: CachedRegion | undefined): string {
    if (r === undefined) return this.home;
    return this.leaderHints.get(r.info.id) ?? r.leader ?? this.home;
  }

  /** Hands a batch's answers to its callers. */
  private settle(items: readonly Queued[], results: Raw[]): void {
    items.forEach((it, j) => {
      const r = results[j];
      if (r === undefined) it.reject(new Error(`batch answered ${results.length} results for ${items.length} ops`));
      else if (r['error'] !== undefined && r['error'] !== null) it.reject(batchOpError(r['error'] as Raw));
      else it.resolve(r[it.kind] as Raw);
    });
  }

  /** The open BatchStream, opened when there is none; its failure fails every batch waiting on it. */
  private openBatchStream(): grpc.ClientDuplexStream<Raw, Raw> {
    if (this.batchStream !== undefined) return this.batchStream;
    const stream = this.stub['BatchStream']!(this.md) as grpc.ClientDuplexStream<Raw, Raw>;
    this.batchStream = stream;
    const fail = (e: unknown) => {
      if (this.batchStream === stream) this.batchStream = undefined;
      const waiting = [...this.streamWaiting.values()];
      this.streamWaiting.clear();
      this.inflightBatches -= waiting.length;
      for (const items of waiting) for (const i of items) i.reject(e);
      this.scheduleFlush();
    };
    stream.on('data', (m: Raw) => {
      const id = String(m['id']);
      const items = this.streamWaiting.get(id);
      if (items === undefined) return;
      this.streamWaiting.delete(id);
      this.inflightBatches--;
      this.settle(items, m['results'] as Raw[]);
      this.scheduleFlush();
    });
    stream.on('error', (e: unknown) => fail(fromServiceError(e)));
    stream.on('end', () => fail(new Error('batch stream ended by the server')));
    return stream;
  }

  // ---- batching

  private enqueue(kind: string, req: Raw): Promise<Raw> {
    return new Promise<Raw>((resolve, reject) => {
      this.queue.push({ kind, req, resolve, reject });
      this.scheduleFlush();
    });
  }

  /**
   * Sends what queued once the current turn of the event loop is over (setImmediate), so the
   * requests that concurrent callers make in one turn, typically all the callers woken by the
   * previous batch's answers, share a call.
   */
  private scheduleFlush(): void {
    if (this.flushScheduled || this.inflightBatches >= this.maxInflightBatches || this.queue.length === 0) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    while (this.inflightBatches < this.maxInflightBatches && this.queue.length > 0) {
      const items = this.queue.length <= this.maxBatchOps ? this.queue : this.queue.slice(0, this.maxBatchOps);
      this.queue = items === this.queue ? [] : this.queue.slice(this.maxBatchOps);
      this.inflightBatches++;
      this.batchStats.batches++;
      this.batchStats.ops += items.length;
      const ops = items.map((i) => ({ [i.kind]: i.req }));
      if (this.batchTransport === 'stream') {
        const id = String(this.nextBatchId++);
        const stream = this.openBatchStream();
        this.streamWaiting.set(id, items);
        stream.write({ id, ops });
        continue;
      }
      this.stub['Batch']!({ ops }, this.md, { deadline: Date.now() + this.deadlineMs }, (err: unknown, res: Raw) => {
        this.inflightBatches--;
        if (err) {
          const e = fromServiceError(err);
          for (const i of items) i.reject(e);
        } else this.settle(items, res['results'] as Raw[]);
        this.scheduleFlush();
      });
    }
  }

  // ---- region routing

  /** The cached region directory, fetched when there is none (concurrent callers share one fetch). */
  private async regionDirectory(): Promise<CachedRegion[]> {
    if (this.directory !== undefined) return this.directory;
    this.refreshing ??= this.regions().then(
      (rs) => {
        this.refreshing = undefined;
        this.stats.refreshes++;
        rs.sort((a, b) => compareBytes(a.startKey, b.startKey));
        this.directory = rs.map((info) => {
          const leader = info.peers.find((p) => p.id === info.leaderPeerId)?.address;
          for (const p of info.peers) if (p.address !== '' && !this.addresses.includes(p.address)) this.addresses.push(p.address);
          return { info, context: { regionId: String(info.id), version: String(info.epoch.version), confVer: String(info.epoch.confVer) }, leader: leader === '' ? undefined : leader };
        });
        return this.directory;
      },
      (e: unknown) => {
        this.refreshing = undefined;
        throw e;
      },
    );
    return this.refreshing;
  }

  /** Drops the cached directory: the next routed request fetches it again. */
  invalidateRegions(): void {
    this.directory = undefined;
  }

  private static locate(dir: readonly CachedRegion[], raw: Uint8Array): CachedRegion | undefined {
    const enc = codec.encodeBytes(raw);
    let lo = 0;
    let hi = dir.length - 1;
    // The last region whose start is <= enc.
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (compareBytes(dir[mid]!.info.startKey, enc) <= 0) lo = mid;
      else hi = mid - 1;
    }
    const r = dir[lo];
    if (r === undefined || compareBytes(r.info.startKey, enc) > 0) return undefined;
    if (r.info.endKey.length > 0 && compareBytes(enc, r.info.endKey) >= 0) return undefined;
    return r;
  }

  /** The region holding the last key before raw `end` (undefined: the last region). */
  private static locateBefore(dir: readonly CachedRegion[], end: Uint8Array | undefined): CachedRegion | undefined {
    if (end === undefined) return dir[dir.length - 1];
    const enc = codec.encodeBytes(end);
    // The last region whose start is < enc.
    for (let i = dir.length - 1; i >= 0; i--) if (compareBytes(dir[i]!.info.startKey, enc) < 0) return dir[i];
    return undefined;
  }

  /** Indexes of `keys` grouped by cached region; a key no cached region holds goes unrouted (context undefined). */
  private async group(keys: readonly Uint8Array[]): Promise<Array<{ region: CachedRegion | undefined; indexes: number[] }>> {
    const dir = await this.regionDirectory();
    const by = new Map<CachedRegion | undefined, number[]>();
    keys.forEach((k, i) => {
      const r = FlashKvClient.locate(dir, k);
      let g = by.get(r);
      if (g === undefined) by.set(r, (g = []));
      g.push(i);
    });
    return [...by].map(([region, indexes]) => ({ region, indexes }));
  }

  private async backoff(attempt: number, code: string): Promise<void> {
    this.stats.retries[code] = (this.stats.retries[code] ?? 0) + 1;
    const ms = Math.min(250, this.backoffMs * 2 ** attempt) * (0.5 + Math.random() / 2);
    await new Promise((r) => setTimeout(r, ms));
  }

  /**
   * Runs `part` over the keys at `indexes`, routed by region; on a retryable region error the
   * directory is refreshed and the failed part's keys are routed again (they may now span two
   * regions after a split), with backoff, up to maxRegionAttempts.
   */
  private async routed<T>(keys: readonly Uint8Array[], indexes: readonly number[], part: (context: RegionWire | undefined, indexes: number[], address: string) => Promise<T>, attempt = 0): Promise<T[]> {
    if (!this.regionAware) return [await part(undefined, [...indexes], this.home)];
    const retry = async (e: unknown, region: CachedRegion | undefined, address: string, mine: readonly number[]): Promise<T[]> => {
      if (!this.learn(e, region?.info.id, address) || attempt + 1 >= this.maxAttempts) throw e;
      this.invalidateRegions();
      await this.backoff(attempt, isKvError(e) ? e.code : 'UNAVAILABLE');
      return this.routed(keys, mine, part, attempt + 1);
    };
    if (this.directory === undefined && attempt > 0) {
      // A retry: route it by a fresh directory (a NOT_LEADER hint or the leader's address may
      // send it elsewhere than home); if none can be had, it goes unrouted as a first try does.
      await this.regionDirectory().catch(() => undefined);
    }
    if (this.directory === undefined) {
      // No directory yet: fetch it in the background and send this request unrouted (the server
      // routes it by itself), so a one-shot client (a CLI command) pays no extra round trip.
      this.regionDirectory().catch(() => undefined);
      const address = this.home;
      try {
        return [await part(undefined, [...indexes], address)];
      } catch (e) {
        return retry(e, undefined, address, indexes);
      }
    }
    if (indexes.length === 1) {
      // One key (a point get, a 1-key txn): no grouping, no Promise.all.
      const only = indexes as number[];
      const region = FlashKvClient.locate(this.directory, keys[only[0]!]!);
      const address = this.addressOf(region);
      try {
        return [await part(region?.context, only, address)];
      } catch (e) {
        return retry(e, region, address, only);
      }
    }
    const groups = await this.group(indexes.map((i) => keys[i]!));
    const results = await Promise.all(
      groups.map(async (g) => {
        const mine = g.indexes.map((j) => indexes[j]!);
        const address = this.addressOf(g.region);
        try {
          return [await part(g.region?.context, mine, address)];
        } catch (e) {
          return retry(e, g.region, address, mine);
        }
      }),
    );
    return results.flat();
  }

  /** Retries a whole unrouted call on region errors (scan, lock resolution, status checks). */
  private async retrying<T>(fn: (address: string) => Promise<T>): Promise<T> {
    let address = this.home;
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn(address);
      } catch (e) {
        if (!this.regionAware || attempt + 1 >= this.maxAttempts || !this.learn(e, undefined, address)) throw e;
        this.invalidateRegions();
        // A NOT_LEADER naming the leader's address: the next attempt goes there; else home.
        const hint = isKvError(e, 'NOT_LEADER') ? e.details['leaderAddress'] : undefined;
        address = typeof hint === 'string' && hint !== '' ? hint : this.home;
        await this.backoff(attempt, isKvError(e) ? e.code : 'UNAVAILABLE');
      }
    }
  }

  close(): void {
    const stream = this.batchStream;
    this.batchStream = undefined;
    stream?.end();
    for (const st of this.stubs.values()) st.close();
  }

  /** One call to `address` (default: home); batched when batching and it goes home. */
  private call(method: string, req: Raw, address?: string): Promise<Raw> {
    const home = address === undefined || address === this.home;
    if (this.batching && home) {
      const kind = BATCHABLE[method];
      if (kind !== undefined) return this.enqueue(kind, req);
    }
    const stub = home ? this.stub : this.stubFor(address);
    return new Promise((resolve, reject) => {
      stub[method]!(req, this.md, { deadline: Date.now() + this.deadlineMs }, (err: unknown, res: Raw) => (err ? reject(fromServiceError(err)) : resolve(res)));
    });
  }

  async getTs(): Promise<bigint> {
    const r = await this.retrying(() => this.call('Tso', { count: 1 }));
    return big((r['ts'] as unknown[])[0]);
  }

  async getTsBatch(count: number): Promise<bigint[]> {
    const r = await this.retrying(() => this.call('Tso', { count }));
    return (r['ts'] as unknown[]).map(big);
  }

  async get(key: Uint8Array, ts: bigint): Promise<Uint8Array | undefined> {
    const t = ts.toString();
    const [r] = await this.routed([key], [0], (context, _i, address) => this.call('Get', context === undefined ? { key, ts: t } : { key, ts: t, context }, address));
    return r!['found'] === true ? (r!['value'] as Uint8Array) : undefined;
  }

  /** The pairs of `keys` that have a value at `ts`, in request order (one call per region). */
  async batchGet(keys: readonly Uint8Array[], ts: bigint): Promise<KvPairBytes[]> {
    const t = ts.toString();
    const found = new Map<number, KvPairBytes>();
    await this.routed(keys, keys.map((_, i) => i), async (context, indexes, address) => {
      const part = indexes.map((i) => keys[i]!);
      const r = await this.call('BatchGet', context === undefined ? { keys: part, ts: t } : { keys: part, ts: t, context }, address);
      // Storage answers in request order, only the keys with a value: match them up in order.
      let j = 0;
      for (const p of r['pairs'] as KvPairBytes[]) {
        while (j < part.length && compareBytes(part[j]!, p.key) !== 0) j++;
        if (j < part.length) found.set(indexes[j++]!, p);
      }
    });
    return [...found].sort((a, b) => a[0] - b[0]).map(([, p]) => p);
  }

  /**
   * A scan. Region-aware, it goes one region at a time (in key order, or backwards when
   * `reverse`), each piece to its region's leader, so regions led by different nodes are all
   * served; a piece that fails with a region error is looked up again and retried.
   */
  async scan(req: { start?: Uint8Array; end?: Uint8Array; limit?: number; ts: bigint; reverse?: boolean; keyOnly?: boolean }): Promise<KvPairBytes[]> {
    const whole = async () => {
      const r = await this.retrying((a) => this.call('Scan', { ...req, ts: req.ts.toString() }, a));
      return r['pairs'] as KvPairBytes[];
    };
    if (!this.regionAware) return whole();
    try {
      await this.regionDirectory();
    } catch {
      return whole();
    }
    const limit = req.limit ?? 0;
    const out: KvPairBytes[] = [];
    const reverse = req.reverse === true;
    // The unscanned part of the range, as raw keys (undefined: unbounded).
    let lo = req.start !== undefined && req.start.length > 0 ? req.start : undefined;
    let hi = req.end !== undefined && req.end.length > 0 ? req.end : undefined;
    for (let attempt = 0; ; ) {
      if (lo !== undefined && hi !== undefined && compareBytes(codec.encodeBytes(lo), codec.encodeBytes(hi)) >= 0) return out;
      const dir = await this.regionDirectory().catch(() => undefined);
      if (dir === undefined) return [...out, ...(await whole())];
      const region = reverse ? FlashKvClient.locateBefore(dir, hi) : FlashKvClient.locate(dir, lo ?? new Uint8Array(0));
      if (region === undefined) return [...out, ...(await whole())];
      const rStart = region.info.startKey.length === 0 ? undefined : codec.decodeBytes(region.info.startKey).raw;
      const rEnd = region.info.endKey.length === 0 ? undefined : codec.decodeBytes(region.info.endKey).raw;
      // This region's part of [lo, hi).
      const pStart = reverse ? maxKey(lo, rStart) : lo;
      const pEnd = reverse ? hi : minKey(hi, rEnd);
      const address = this.addressOf(region);
      let pairs: KvPairBytes[];
      try {
        const msg: Raw = { ts: req.ts.toString(), reverse, keyOnly: req.keyOnly === true, limit: limit > 0 ? limit - out.length : 0 };
        if (pStart !== undefined) msg['start'] = pStart;
        if (pEnd !== undefined) msg['end'] = pEnd;
        pairs = (await this.call('Scan', msg, address))['pairs'] as KvPairBytes[];
      } catch (e) {
        if (!this.learn(e, region.info.id, address) || attempt + 1 >= this.maxAttempts) throw e;
        this.invalidateRegions();
        await this.backoff(attempt++, isKvError(e) ? e.code : 'UNAVAILABLE');
        continue;
      }
      attempt = 0;
      out.push(...pairs);
      if (limit > 0 && out.length >= limit) return out.slice(0, limit);
      if (reverse) {
        if (rStart === undefined || (lo !== undefined && compareBytes(codec.encodeBytes(rStart), codec.encodeBytes(lo)) <= 0)) return out;
        hi = rStart;
      } else {
        if (rEnd === undefined || (hi !== undefined && compareBytes(codec.encodeBytes(hi), codec.encodeBytes(rEnd)) <= 0)) return out;
        lo = rEnd;
      }
    }
  }

  /**
   * Prewrite, one call per region. 1PC is asked for only when one region holds every key (a
   * 1PC per region would commit the parts separately); the result's onePcCommitTs is then the
   * commit ts, else 0 and commit must follow.
   */
  async prewrite(req: { mutations: readonly StorageMutation[]; primary: Uint8Array; startTs: bigint; lockTtl: bigint; tryOnePc?: boolean; minCommitTs?: bigint }): Promise<{ minCommitTs: bigint; onePcCommitTs: bigint }> {
    const wire = req.mutations.map((m) => ({ op: m.op, key: m.key, ...(m.value !== undefined ? { value: m.value } : {}) }));
    const base = { primary: req.primary, startTs: req.startTs.toString(), lockTtl: req.lockTtl.toString(), minCommitTs: (req.minCommitTs ?? 0n).toString() };
    const keys = req.mutations.map((m) => m.key);
    let parts = 0;
    const results = await this.routed(keys, keys.map((_, i) => i), async (context, indexes, address) => {
      parts++;
      // A retried part (after a split) is never 1PC unless it is still the whole txn.
      const onePc = req.tryOnePc === true && indexes.length === keys.length && (parts === 1 || !this.regionAware);
      const msg: Raw = { ...base, mutations: indexes.map((i) => wire[i]), tryOnePc: onePc };
      if (context !== undefined) msg['context'] = context;
      return this.call('Prewrite', msg, address);
    });
    let minCommitTs = 0n;
    let onePcCommitTs = 0n;
    for (const r of results) {
      const m = big(r['minCommitTs']);
      if (m > minCommitTs) minCommitTs = m;
      onePcCommitTs = big(r['onePcCommitTs']);
    }
    return { minCommitTs, onePcCommitTs: results.length === 1 ? onePcCommitTs : 0n };
  }

  async commit(req: { keys: readonly Uint8Array[]; startTs: bigint; commitTs: bigint }): Promise<void> {
    const startTs = req.startTs.toString();
    const commitTs = req.commitTs.toString();
    await this.routed(req.keys, req.keys.map((_, i) => i), (context, indexes, address) => {
      const msg: Raw = { keys: indexes.map((i) => req.keys[i]), startTs, commitTs };
      if (context !== undefined) msg['context'] = context;
      return this.call('Commit', msg, address);
    });
  }

  async rollback(req: { keys: readonly Uint8Array[]; startTs: bigint }): Promise<void> {
    const startTs = req.startTs.toString();
    await this.routed(req.keys, req.keys.map((_, i) => i), (context, indexes, address) => {
      const msg: Raw = { keys: indexes.map((i) => req.keys[i]), startTs };
      if (context !== undefined) msg['context'] = context;
      return this.call('Rollback', msg, address);
    });
  }

  async checkTxnStatus(req: { primaryKey: Uint8Array; lockTs: bigint; callerStartTs: bigint; currentTs: bigint; rollbackIfNotExist?: boolean }): Promise<RemoteTxnStatus> {
    const r = await this.retrying((a) => this.call('CheckTxnStatus', {
      primaryKey: req.primaryKey,
      lockTs: req.lockTs.toString(),
      callerStartTs: req.callerStartTs.toString(),
      currentTs: req.currentTs.toString(),
      rollbackIfNotExist: req.rollbackIfNotExist === true,
    }, a));
    const kind = String(r['kind']);
    if (kind === 'committed') return { kind, commitTs: big(r['commitTs']) };
    if (kind === 'locked') return { kind, ttl: big(r['ttl']), minCommitTs: big(r['minCommitTs']), lockTs: big(r['lockTs']) };
    return { kind };
  }

  async resolveLock(req: { startTs: bigint; commitTs: bigint; keys?: readonly Uint8Array[] }): Promise<number> {
    const r = await this.retrying((a) => this.call('ResolveLock', { startTs: req.startTs.toString(), commitTs: req.commitTs.toString(), keys: req.keys ?? [] }, a));
    return num(r['resolved']);
  }

  async regions(): Promise<RegionInfo[]> {
    const r = await this.retrying(() => this.call('Regions', {}));
    return (r['regions'] as Raw[]).map(regionOf);
  }

  /** Admin: splits the region holding raw `key` at `key`; resolves the two halves. */
  async split(key: Uint8Array): Promise<{ left: RegionInfo; right: RegionInfo }> {
    const r = await this.retrying((a) => this.call('Split', { key }, a));
    this.invalidateRegions();
    return { left: regionOf(r['left'] as Raw), right: regionOf(r['right'] as Raw) };
  }

  /** Admin: placement's GC safe point and who pauses GC. */
  async gcSafePoint(): Promise<GcSafePointInfo> {
    return gcInfoOf(await this.retrying((a) => this.call('GetGcSafePoint', {}, a)));
  }

  /** Admin: moves the GC safe point forward to `ts` (refused with INVALID_ARGUMENT if it is behind the current one). */
  async updateGcSafePoint(ts: bigint): Promise<GcSafePointInfo> {
    return gcInfoOf(await this.retrying((a) => this.call('UpdateGcSafePoint', { safePoint: ts.toString() }, a)));
  }

  /** Admin: one GC pass over every region at `safePoint` (default placement's), capped by placement's. */
  async gc(safePoint = 0n): Promise<GcRunResult> {
    const r = await this.retrying((a) => this.call('Gc', { safePoint: safePoint.toString() }, a));
    return { safePoint: big(r['safePoint']), paused: r['paused'] === true, keys: num(r['keys']), deletedVersions: num(r['deletedVersions']) };
  }

  async flashbackPreview(options: FlashbackRunOptions): Promise<Omit<FlashbackPreview, 'sample'> & { sample: FlashbackPreview['sample'] }> {
    const r = await this.retrying((a) => this.call('FlashbackPreview', targetOf(options), a));
    return {
      version: big(r['version']),
      keysToRewrite: num(r['keysToRewrite']),
      toDelete: num(r['toDelete']),
      toRestore: num(r['toRestore']),
      toUpdate: num(r['toUpdate']),
      unchanged: num(r['unchanged']),
      locks: num(r['locks']),
      regions: num(r['regions']),
      sample: (r['sample'] as Raw[]).map((s) => ({
        key: s['key'] as Uint8Array,
        kind: s['kind'] as FlashbackPreview['sample'][number]['kind'],
        current: s['hasCurrent'] === true ? (s['current'] as Uint8Array) : undefined,
        target: s['hasTarget'] === true ? (s['target'] as Uint8Array) : undefined,
      })),
    };
  }

  /**
   * Runs a flashback on the server; `onProgress` sees every progress message; resolves the last
   * one. Aborting `signal` stops watching (rejects CANCELLED): the job itself runs on to the end
   * on the server, since a half-done flashback would leave regions in flashback state.
   */
  async flashback(options: FlashbackRunOptions, onProgress?: (p: RemoteFlashbackProgress) => void, signal?: AbortSignal): Promise<RemoteFlashbackProgress> {
    // A node of a process cluster that does not lead the range answers NOT_LEADER naming the
    // node that does (before any progress): the job is started there instead.
    let address = this.home;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.flashbackAt(address, options, onProgress, signal);
      } catch (e) {
        const hint = isKvError(e, 'NOT_LEADER') ? e.details['leaderAddress'] : undefined;
        const busy = isKvError(e, 'SERVER_BUSY') || (isKvError(e, 'NOT_LEADER') && hint === undefined);
        if (!this.regionAware || attempt + 1 >= this.maxAttempts || !(typeof hint === 'string' || busy)) throw e;
        if (typeof hint === 'string' && hint !== '') address = hint;
        await this.backoff(attempt, isKvError(e) ? e.code : 'UNAVAILABLE');
      }
    }
  }

  private flashbackAt(address: string, options: FlashbackRunOptions, onProgress: ((p: RemoteFlashbackProgress) => void) | undefined, signal: AbortSignal | undefined): Promise<RemoteFlashbackProgress> {
    const req = targetOf(options);
    return new Promise((resolve, reject) => {
      const stream = (address === this.home ? this.stub : this.stubFor(address))['Flashback']!(req, this.md) as grpc.ClientReadableStream<Raw>;
      const onAbort = () => stream.cancel();
      if (signal !== undefined) {
        if (signal.aborted) stream.cancel();
        else signal.addEventListener('abort', onAbort, { once: true });
      }
      let last: RemoteFlashbackProgress | undefined;
      let failed = false;
      stream.on('data', (m: Raw) => {
        last = progressOf(m);
        onProgress?.(last);
      });
      stream.on('error', (e) => {
        failed = true;
        signal?.removeEventListener('abort', onAbort);
        reject(fromServiceError(e));
      });
      stream.on('end', () => {
        signal?.removeEventListener('abort', onAbort);
        if (failed) return;
        if (last === undefined || last.phase !== 'done') reject(new Error('flashback stream ended before the job was done'));
        else resolve(last);
      });
    });
  }

  /**
   * A change feed from the server as an async iterator of the in-process `CdcEvent` shapes:
   * the rows committed after `startTs`, then live rows and resolved-ts events, until the
   * iteration is stopped (`break`, `return()`, or aborting `signal`), which cancels the call
   * and so unsubscribes the server's feed. A failed stream throws the server's KvError
   * (`CDC_LAGGING`, `PLUGIN_MISSING`, ...); aborting ends the iteration without an error.
   */
  changefeed(options: { startTs: bigint; startKey?: Uint8Array; endKey?: Uint8Array; withOldValue?: boolean }, signal?: AbortSignal): AsyncGenerator<CdcEvent, void, undefined> {
    if (options === null || typeof options !== 'object' || typeof options.startTs !== 'bigint') throw new TypeError('changefeed needs { startTs: bigint }');
    const req: Raw = { startTs: options.startTs.toString(), withOldValue: options.withOldValue === true };
    if (options.startKey !== undefined) req['startKey'] = options.startKey;
    if (options.endKey !== undefined) req['endKey'] = options.endKey;
    const stream = this.stub['Changefeed']!(req, this.md) as grpc.ClientReadableStream<Raw>;
    return iterate(stream, signal);
  }

  /** A client-side transaction over the remote Storage API (optimistic Percolator, TSO from the server). */
  async begin(): Promise<RemoteTxn> {
    return new RemoteTxn(this, await this.getTs());
  }
}

/**
 * The stream as an async generator. Messages are queued as they arrive (grpc-js has already
 * read them; the queue is what the consumer has not taken yet); `finally` cancels the call, so
 * leaving the loop early is what stops the server's feed.
 */
async function* iterate(stream: grpc.ClientReadableStream<Raw>, signal: AbortSignal | undefined): AsyncGenerator<CdcEvent, void, undefined> {
  const queue: Raw[] = [];
  let ended = false;
  let failure: unknown;
  let wake: (() => void) | undefined;
  const poke = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  stream.on('data', (m: Raw) => {
    queue.push(m);
    poke();
  });
  stream.on('error', (e: unknown) => {
    failure ??= e;
    ended = true;
    poke();
  });
  stream.on('end', () => {
    ended = true;
    poke();
  });
  const onAbort = () => {
    stream.cancel();
    poke();
  };
  if (signal?.aborted === true) onAbort();
  else signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for (;;) {
      if (signal?.aborted === true) return;
      const m = queue.shift();
      if (m !== undefined) {
        yield eventOf(m);
        continue;
      }
      if (ended) {
        if (failure !== undefined) throw fromServiceError(failure);
        return;
      }
      await new Promise<void>((r) => (wake = r));
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
    if (!ended) stream.cancel();
  }
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** The larger of two raw keys as bounds (undefined: unbounded below). */
function maxKey(a: Uint8Array | undefined, b: Uint8Array | undefined): Uint8Array | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return compareBytes(codec.encodeBytes(a), codec.encodeBytes(b)) >= 0 ? a : b;
}

/** The smaller of two raw keys as upper bounds (undefined: unbounded above). */
function minKey(a: Uint8Array | undefined, b: Uint8Array | undefined): Uint8Array | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return compareBytes(codec.encodeBytes(a), codec.encodeBytes(b)) <= 0 ? a : b;
}

/**
 * Buffers writes and commits them with prewrite (trying 1PC) then commit at a fresh TSO, as
 * TxnClient does in process. Reads see the txn's own writes, else the snapshot at startTs.
 * Lock resolution and region retries are not done here yet: a KEY_IS_LOCKED read rejects.
 */
export class RemoteTxn {
  private readonly writes = new Map<string, StorageMutation>();
  private done = false;

  constructor(
    private readonly client: FlashKvClient,
    readonly startTs: bigint,
  ) {}

  async get(key: Uint8Array): Promise<Uint8Array | undefined> {
    const own = this.writes.get(hex(key));
    if (own !== undefined) return own.op === 'put' ? own.value : undefined;
    return this.client.get(key, this.startTs);
  }

  put(key: Uint8Array, value: Uint8Array): void {
    this.writable();
    this.writes.set(hex(key), { op: 'put', key, value });
  }

  delete(key: Uint8Array): void {
    this.writable();
    this.writes.set(hex(key), { op: 'delete', key });
  }

  private writable(): void {
    if (this.done) throw new TypeError('transaction already committed or rolled back');
  }

  /** Resolves the commit ts (startTs for a txn with no writes). */
  async commit(): Promise<bigint> {
    this.writable();
    this.done = true;
    const mutations = [...this.writes.values()];
    if (mutations.length === 0) return this.startTs;
    const primary = mutations[0]!.key;
    const keys = mutations.map((m) => m.key);
    let res;
    try {
      res = await this.client.prewrite({ mutations, primary, startTs: this.startTs, lockTtl: 3000n, tryOnePc: true });
    } catch (e) {
      await this.client.rollback({ keys, startTs: this.startTs }).catch(() => undefined);
      throw e;
    }
    if (res.onePcCommitTs > 0n) return res.onePcCommitTs;
    let commitTs = await this.client.getTs();
    if (commitTs < res.minCommitTs) commitTs = res.minCommitTs;
    // Primary first: once it is committed the txn is, and the secondaries follow (Percolator).
    await this.client.commit({ keys: [primary], startTs: this.startTs, commitTs });
    if (keys.length > 1) await this.client.commit({ keys: keys.slice(1), startTs: this.startTs, commitTs });
    return commitTs;
  }

  async rollback(): Promise<void> {
    this.writable();
    this.done = true;
    if (this.writes.size > 0) await this.client.rollback({ keys: [...this.writes.values()].map((m) => m.key), startTs: this.startTs });
  }
}
