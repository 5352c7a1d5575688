import * as grpc from '@grpc/grpc-js';
import { InvalidArgumentError, type FlashbackPreview, type FlashbackProgress, type FlashbackRunOptions, type StorageMutation } from '@flashkv/core';
import type { CdcEvent } from '@flashkv/cdc';
import { eventOf } from './cdc-wire.js';
import { fromServiceError } from './errors.js';
import { flashKvService } from './proto.js';

export interface FlashKvClientOptions {
  /** `host:port` of a FlashKV server. */
  readonly endpoint: string;
  /** Sent as `authorization: Bearer <token>`; leave out for a server that authenticates by client certificate only. */
  readonly token?: string;
  /** Connect over TLS: `ca` verifies the server; `cert` + `key` are this client's certificate for mutual TLS. */
  readonly tls?: ClientTlsOptions;
  /** Per-call deadline in ms (default 30 s; streams have none). */
  readonly deadlineMs?: number;
  readonly maxMessageBytes?: number;
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
  readonly peers: ReadonlyArray<{ readonly id: number; readonly storeId: number; readonly role: string }>;
  readonly inFlashback: boolean;
  readonly flashbackStartTs: bigint;
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
export class FlashKvClient {
  private readonly stub: grpc.Client & Record<string, (...args: unknown[]) => unknown>;
  private readonly md = new grpc.Metadata();
  private readonly deadlineMs: number;

  constructor(options: FlashKvClientOptions) {
    const Ctor = grpc.makeGenericClientConstructor(flashKvService(), 'FlashKv');
    const max = options.maxMessageBytes ?? 16 * 1024 * 1024;
    this.stub = new Ctor(options.endpoint, channelCredentials(options.tls), {
      'grpc.max_receive_message_length': max,
      'grpc.max_send_message_length': max,
      ...(options.tls?.serverName !== undefined ? { 'grpc.ssl_target_name_override': options.tls.serverName, 'grpc.default_authority': options.tls.serverName } : {}),
    }) as never;
    if (options.token !== undefined) this.md.set('authorization', `Bearer ${options.token}`);
    this.deadlineMs = options.deadlineMs ?? 30_000;
  }

  close(): void {
    this.stub.close();
  }

  private call(method: string, req: Raw): Promise<Raw> {
    return new Promise((resolve, reject) => {
      this.stub[method]!(req, this.md, { deadline: Date.now() + this.deadlineMs }, (err: unknown, res: Raw) => (err ? reject(fromServiceError(err)) : resolve(res)));
    });
  }

  async getTs(): Promise<bigint> {
    const r = await this.call('Tso', { count: 1 });
    return big((r['ts'] as unknown[])[0]);
  }

  async getTsBatch(count: number): Promise<bigint[]> {
    const r = await this.call('Tso', { count });
    return (r['ts'] as unknown[]).map(big);
  }

  async get(key: Uint8Array, ts: bigint): Promise<Uint8Array | undefined> {
    const r = await this.call('Get', { key, ts: ts.toString() });
    return r['found'] === true ? (r['value'] as Uint8Array) : undefined;
  }

  async batchGet(keys: readonly Uint8Array[], ts: bigint): Promise<KvPairBytes[]> {
    const r = await this.call('BatchGet', { keys, ts: ts.toString() });
    return r['pairs'] as KvPairBytes[];
  }

  async scan(req: { start?: Uint8Array; end?: Uint8Array; limit?: number; ts: bigint; reverse?: boolean; keyOnly?: boolean }): Promise<KvPairBytes[]> {
    const r = await this.call('Scan', { ...req, ts: req.ts.toString() });
    return r['pairs'] as KvPairBytes[];
  }

  async prewrite(req: { mutations: readonly StorageMutation[]; primary: Uint8Array; startTs: bigint; lockTtl: bigint; tryOnePc?: boolean; minCommitTs?: bigint }): Promise<{ minCommitTs: bigint; onePcCommitTs: bigint }> {
    const r = await this.call('Prewrite', {
      mutations: req.mutations.map((m) => ({ op: m.op, key: m.key, ...(m.value !== undefined ? { value: m.value } : {}) })),
      primary: req.primary,
      startTs: req.startTs.toString(),
      lockTtl: req.lockTtl.toString(),
      tryOnePc: req.tryOnePc === true,
      minCommitTs: (req.minCommitTs ?? 0n).toString(),
    });
    return { minCommitTs: big(r['minCommitTs']), onePcCommitTs: big(r['onePcCommitTs']) };
  }

  async commit(req: { keys: readonly Uint8Array[]; startTs: bigint; commitTs: bigint }): Promise<void> {
    await this.call('Commit', { keys: req.keys, startTs: req.startTs.toString(), commitTs: req.commitTs.toString() });
  }

  async rollback(req: { keys: readonly Uint8Array[]; startTs: bigint }): Promise<void> {
    await this.call('Rollback', { keys: req.keys, startTs: req.startTs.toString() });
  }

  async checkTxnStatus(req: { primaryKey: Uint8Array; lockTs: bigint; callerStartTs: bigint; currentTs: bigint; rollbackIfNotExist?: boolean }): Promise<RemoteTxnStatus> {
    const r = await this.call('CheckTxnStatus', {
      primaryKey: req.primaryKey,
      lockTs: req.lockTs.toString(),
      callerStartTs: req.callerStartTs.toString(),
      currentTs: req.currentTs.toString(),
      rollbackIfNotExist: req.rollbackIfNotExist === true,
    });
    const kind = String(r['kind']);
    if (kind === 'committed') return { kind, commitTs: big(r['commitTs']) };
    if (kind === 'locked') return { kind, ttl: big(r['ttl']), minCommitTs: big(r['minCommitTs']), lockTs: big(r['lockTs']) };
    return { kind };
  }

  async resolveLock(req: { startTs: bigint; commitTs: bigint; keys?: readonly Uint8Array[] }): Promise<number> {
    const r = await this.call('ResolveLock', { startTs: req.startTs.toString(), commitTs: req.commitTs.toString(), keys: req.keys ?? [] });
    return num(r['resolved']);
  }

  async regions(): Promise<RegionInfo[]> {
    const r = await this.call('Regions', {});
    return (r['regions'] as Raw[]).map((g) => ({
      id: num(g['id']),
      startKey: g['startKey'] as Uint8Array,
      endKey: g['endKey'] as Uint8Array,
      epoch: { confVer: num(g['confVer']), version: num(g['version']) },
      peers: (g['peers'] as Raw[]).map((p) => ({ id: num(p['id']), storeId: num(p['storeId']), role: String(p['role']) })),
      inFlashback: g['inFlashback'] === true,
      flashbackStartTs: big(g['flashbackStartTs']),
    }));
  }

  async flashbackPreview(options: FlashbackRunOptions): Promise<Omit<FlashbackPreview, 'sample'> & { sample: FlashbackPreview['sample'] }> {
    const r = await this.call('FlashbackPreview', targetOf(options));
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
  flashback(options: FlashbackRunOptions, onProgress?: (p: RemoteFlashbackProgress) => void, signal?: AbortSignal): Promise<RemoteFlashbackProgress> {
    const req = targetOf(options);
    return new Promise((resolve, reject) => {
      const stream = this.stub['Flashback']!(req, this.md) as grpc.ClientReadableStream<Raw>;
      if (signal !== undefined) {
        if (signal.aborted) stream.cancel();
        else signal.addEventListener('abort', () => stream.cancel(), { once: true });
      }
      let last: RemoteFlashbackProgress | undefined;
      let failed = false;
      stream.on('data', (m: Raw) => {
        last = progressOf(m);
        onProgress?.(last);
      });
      stream.on('error', (e) => {
        failed = true;
        reject(fromServiceError(e));
      });
      stream.on('end', () => {
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
