import { createHash, timingSafeEqual } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { pino, type DestinationStream, type Logger, type LevelWithSilent } from 'pino';
import { checkKeyInRegion, codec, compareBytes, epochNotMatch, InvalidArgumentError, KvError, type Consensus, type Flashback, type Region, type FlashbackProgress, type Placement, type Storage, type StorageMutation } from '@flashkv/core';
import type { Server as HttpServer } from 'node:http';
import type { Cdc } from '@flashkv/cdc';
import { eventMessage } from './cdc-wire.js';
import { ERROR_CODE_KEY, ERROR_DETAILS_KEY, toServiceError } from './errors.js';
import { ServerMetrics, serveMetrics } from './metrics.js';
import { flashKvService } from './proto.js';
import { bytes, bytesList, list, obj, optionalKey, u32, u64 } from './wire.js';

/**
 * Where the stores of a cluster answer gRPC, and who leads each region, as this node knows it.
 * The region list carries it (each peer's store address, the leader peer) and NOT_LEADER errors
 * get `details.leaderAddress`, so a region-aware client can go to the leader directly.
 */
export interface ClusterTopology {
  /** The gRPC `host:port` of a store, when known. */
  storeAddress(storeId: number): string | undefined;
  /** The region's leader as this node knows it. */
  leaderOf(regionId: number): { readonly peerId: number; readonly storeId: number } | undefined;
  /**
   * This node's store when it runs one store of a cluster of processes: a flashback is then run
   * only where every region of its range is led (elsewhere it answers NOT_LEADER naming that
   * node, or FAILED_PRECONDITION when the leaders differ), since a node can drive only the
   * regions its store leads.
   */
  readonly localStoreId?: number;
  /**
   * The node's flashback moves the leadership of every region of its range onto this store
   * (raft leader transfer) before it prepares them: a flashback then runs on the node asked,
   * whoever leads the regions, and localStoreId no longer refuses it. A preview gathers the
   * leaders the same way (it reads each region on its leader, and locks and writes nothing).
   */
  readonly gathersLeaders?: boolean;
}

export interface FlashKvServerOptions {
  readonly storage: Storage;
  readonly placement: Placement;
  /** The consensus, for admin Split (without it Split answers UNIMPLEMENTED). */
  readonly consensus?: Consensus;
  /** Store addresses and region leaders (absent: peers carry no address, leaders are unknown). */
  readonly topology?: ClusterTopology;
  readonly flashback?: Flashback;
  /** The CDC service; without it `Changefeed` answers UNIMPLEMENTED. */
  readonly cdc?: Cdc;
  /**
   * Changefeed messages a stream may hold unsent (the client reads slower than the feed
   * produces) before it ends with CDC_LAGGING. Default 100,000, the CDC queue's own default.
   */
  readonly maxFeedBacklog?: number;
  /** Every call must carry `authorization: Bearer <token>` (when set; at least one of token or client certificates). */
  readonly token?: string;
  /** Serve over TLS; with `clientCa` every client must present a certificate signed by it (mutual TLS). */
  readonly tls?: ServerTlsOptions;
  /** A pino logger to log to (its level applies); otherwise one is made from `logLevel` / `logStream`. */
  readonly logger?: Logger;
  /** Default: FLASHKV_LOG_LEVEL, else 'silent'. Startup and shutdown log at info, failed calls at info/warn/error, calls at debug. */
  readonly logLevel?: LevelWithSilent;
  /** Where a logger made here writes JSON lines (default: stderr). */
  readonly logStream?: DestinationStream;
  /** Largest request or response message in bytes (default 16 MiB: a max-size value plus headroom). */
  readonly maxMessageBytes?: number;
  /** `host:port` for Prometheus `GET /metrics` (same bearer token); absent: no HTTP endpoint. */
  readonly metricsListen?: string;
}

/** PEM strings or buffers. */
export interface ServerTlsOptions {
  readonly cert: string | Buffer;
  readonly key: string | Buffer;
  /** CA that signs client certificates: set, a client without a valid certificate is refused at the handshake. */
  readonly clientCa?: string | Buffer;
}

const pem = (v: string | Buffer): Buffer => (typeof v === 'string' ? Buffer.from(v) : v);

/** The logger of a server: the given one, or pino at `level` (default FLASHKV_LOG_LEVEL, else silent) to `stream` (stderr). */
export function serverLogger(options: { logger?: Logger; logLevel?: LevelWithSilent; logStream?: DestinationStream }): Logger {
  if (options.logger !== undefined) return options.logger;
  const level = options.logLevel ?? (process.env['FLASHKV_LOG_LEVEL'] as LevelWithSilent | undefined) ?? 'silent';
  return pino({ name: 'flashkv-server', level }, options.logStream ?? pino.destination(2));
}

/** Server-side faults log at error; refused callers at warn; the rest (conflicts, locks, bad input) at info. */
function levelOf(code: grpc.status): 'error' | 'warn' | 'info' {
  if (code === grpc.status.INTERNAL || code === grpc.status.DATA_LOSS || code === grpc.status.UNKNOWN) return 'error';
  if (code === grpc.status.UNAUTHENTICATED || code === grpc.status.RESOURCE_EXHAUSTED) return 'warn';
  return 'info';
}

const MALFORMED = Symbol('malformed');
interface Malformed {
  readonly [MALFORMED]: string;
}
const MAX_TSO_COUNT = 1024;
/** Ops in one Batch call. */
export const MAX_BATCH_OPS = 1024;
/** BatchOp oneof member -> the method whose handler runs it. */
const BATCH_KINDS: Readonly<Record<string, string>> = { tso: 'Tso', get: 'Get', batchGet: 'BatchGet', prewrite: 'Prewrite', commit: 'Commit', rollback: 'Rollback' };
export const DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

function digest(s: string | Buffer): Buffer {
  return createHash('sha256').update(s).digest();
}

const MUTATION_OPS = new Set(['put', 'delete', 'lock', 'insert', 'checkNotExists']);

function progressMessage(p: FlashbackProgress): Record<string, unknown> {
  return {
    jobId: p.jobId,
    phase: p.phase,
    version: p.version.toString(),
    startTs: p.startTs.toString(),
    commitTs: p.commitTs.toString(),
    regionsTotal: p.regionsTotal,
    regionsPrepared: p.regionsPrepared,
    regionsFinished: p.regionsFinished,
    locksRolledBack: String(p.locksRolledBack),
    locksCommitted: String(p.locksCommitted),
    keysRewritten: String(p.keysRewritten),
    keysPerSecond: p.keysPerSecond,
    elapsedMs: p.elapsedMs,
  };
}

/**
 * The gRPC face of one node: the Storage API, placement's TSO and regions, and the FLASHBACK
 * service when the build has it. Authentication runs before a request is looked at; a request
 * proto-loader cannot decode is answered INVALID_ARGUMENT (grpc-js would say INTERNAL).
 */
export class FlashKvServer {
  private readonly grpcServer: grpc.Server;
  private readonly tokenDigest: Buffer | undefined;
  readonly log: Logger;
  private debugCalls: boolean;
  /** Open flashback streams: shutdown ends them (UNAVAILABLE) so tryShutdown need not wait for a job. */
  private readonly streams = new Set<() => void>();
  private feedsOpen = 0;
  private flashbackStreamsOpen = 0;
  private batchStreamsOpen = 0;
  private boundPort: number | undefined;
  readonly metrics = new ServerMetrics();
  private metricsHttp: HttpServer | undefined;
  private metricsBoundPort: number | undefined;
  private host = '';

  constructor(private readonly options: FlashKvServerOptions) {
    if (options.token !== undefined && (typeof options.token !== 'string' || options.token.length === 0)) throw new TypeError('server token must be a non-empty string');
    const tls = options.tls;
    if (tls !== undefined && (tls === null || typeof tls !== 'object' || tls.cert === undefined || tls.key === undefined)) throw new TypeError('server tls needs { cert, key } (PEM)');
    if (options.token === undefined && tls?.clientCa === undefined) throw new TypeError('server needs a token, or tls with clientCa (client certificates), to authenticate callers');
    if (options.token === undefined && options.metricsListen !== undefined) throw new TypeError('the metrics endpoint is guarded by the bearer token: metricsListen needs a token');
    this.tokenDigest = options.token === undefined ? undefined : digest(options.token);
    this.log = serverLogger(options);
    this.debugCalls = this.log.isLevelEnabled('debug');
    const max = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.grpcServer = new grpc.Server({ 'grpc.max_receive_message_length': max, 'grpc.max_send_message_length': max });
    this.grpcServer.addService(this.definition(), this.handlers());
    this.metrics.openStreams = () => ({ Changefeed: this.feedsOpen, Flashback: this.flashbackStreamsOpen, BatchStream: this.batchStreamsOpen });
  }

  /** Binds `host:port` (port 0 picks a free one) and resolves the bound port. */
  async listen(address: string): Promise<number> {
    const m = /^(.*):(\d+)$/.exec(address);
    if (m === null) throw new InvalidArgumentError(`listen address must be host:port, got "${address}"`);
    this.host = m[1]!;
    const port = await new Promise<number>((resolve, reject) =>
      this.grpcServer.bindAsync(address, this.credentials(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    this.boundPort = port;
    this.log.info(
      { address: this.address, tls: this.options.tls !== undefined, clientCerts: this.options.tls?.clientCa !== undefined, token: this.tokenDigest !== undefined, flashback: this.options.flashback !== undefined, cdc: this.options.cdc !== undefined },
      'flashkv server listening',
    );
    if (this.options.metricsListen !== undefined) {
      const { server, port: mport } = await serveMetrics(this.metrics, this.options.metricsListen, (h) => this.authorisedHeader(h));
      this.metricsHttp = server;
      this.metricsBoundPort = mport;
      this.log.info({ metrics: `${m[1]}:${mport}` }, 'metrics endpoint listening');
    }
    return port;
  }

  private credentials(): grpc.ServerCredentials {
    const tls = this.options.tls;
    if (tls === undefined) return grpc.ServerCredentials.createInsecure();
    const ca = tls.clientCa === undefined ? null : pem(tls.clientCa);
    return grpc.ServerCredentials.createSsl(ca, [{ cert_chain: pem(tls.cert), private_key: pem(tls.key) }], ca !== null);
  }

  /** Port of the metrics endpoint, when one was asked for. */
  get metricsPort(): number | undefined {
    return this.metricsBoundPort;
  }

  /** `host:port` actually bound, once listening. */
  get address(): string | undefined {
    return this.boundPort === undefined ? undefined : `${this.host}:${this.boundPort}`;
  }

  get port(): number | undefined {
    return this.boundPort;
  }

  /** Flashback progress streams currently open (a job whose client left keeps running, uncounted). */
  get openFlashbackStreams(): number {
    return this.flashbackStreamsOpen;
  }

  /** Changefeed streams currently subscribed to the CDC service. */
  get openFeeds(): number {
    return this.feedsOpen;
  }

  /** Stops accepting calls and lets in-flight ones finish for up to `graceMs`, then cancels the rest. */
  async shutdown(graceMs = 5000): Promise<void> {
    this.log.info({ address: this.address, openStreams: this.streams.size, graceMs }, 'flashkv server shutting down');
    const t0 = Date.now();
    for (const close of [...this.streams]) close();
    const http = this.metricsHttp;
    this.metricsHttp = undefined;
    if (http !== undefined) await new Promise<void>((resolve) => http.close(() => resolve()));
    let timer: NodeJS.Timeout | undefined;
    const forced = await new Promise<boolean>((resolve) => {
      timer = setTimeout(() => {
        this.grpcServer.forceShutdown();
        resolve(true);
      }, graceMs);
      this.grpcServer.tryShutdown(() => resolve(false));
    });
    clearTimeout(timer);
    this.log.info({ address: this.address, forced, ms: Date.now() - t0 }, forced ? 'flashkv server stopped (in-flight calls cancelled after the grace period)' : 'flashkv server stopped (drained)');
    this.log.flush?.();
  }

  /**
   * Starts one call's accounting: the returned function records metrics and logs the outcome
   * (failures always, at a level by status; successes only at debug).
   */
  private track(method: string, call: { getPeer(): string }): (status?: Partial<grpc.StatusObject>, cause?: unknown) => void {
    const done = this.metrics.begin(method);
    const t0 = this.debugCalls ? performance.now() : 0;
    return (status, cause) => {
      const code = status?.code ?? grpc.status.OK;
      done(code);
      if (code === grpc.status.OK) {
        if (this.debugCalls) this.log.debug({ method, peer: call.getPeer(), ms: performance.now() - t0 }, 'call ok');
        return;
      }
      const level = levelOf(code);
      if (!this.log.isLevelEnabled(level)) return;
      const fields: Record<string, unknown> = { method, peer: call.getPeer(), code: grpc.status[code] ?? code, details: status?.details };
      const kv = status?.metadata?.get(ERROR_CODE_KEY)[0];
      if (kv !== undefined) fields['kvCode'] = kv;
      if (level === 'error' && cause instanceof Error) fields['err'] = cause;
      this.log[level](fields, 'call failed');
    };
  }

  private definition(): grpc.ServiceDefinition {
    const out: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
    for (const [name, m] of Object.entries(flashKvService())) {
      const decode = m.requestDeserialize;
      out[name] = {
        ...m,
        requestDeserialize: (buf: Buffer) => {
          try {
            return decode(buf);
          } catch (e) {
            return { [MALFORMED]: e instanceof Error ? e.message : String(e) } satisfies Malformed;
          }
        },
      };
    }
    return out;
  }

  private authorised(md: grpc.Metadata): boolean {
    // Without a token, callers authenticate by client certificate, checked at the TLS handshake.
    if (this.tokenDigest === undefined) return true;
    const v = md.get('authorization');
    return v.length === 1 && typeof v[0] === 'string' && this.authorisedHeader(v[0]);
  }

  private authorisedHeader(v: string | undefined): boolean {
    if (this.tokenDigest === undefined) return false;
    if (typeof v !== 'string' || !v.startsWith('Bearer ')) return false;
    // Digests have equal length, so timingSafeEqual never leaks the token's length either.
    return timingSafeEqual(digest(v.slice(7)), this.tokenDigest);
  }

  /** Checks auth, then decodability; returns the error to answer with, or undefined to go on. */
  private gate(md: grpc.Metadata, req: unknown): Partial<grpc.StatusObject> | undefined {
    if (!this.authorised(md)) return { code: grpc.status.UNAUTHENTICATED, details: 'missing or wrong bearer token' };
    if (req !== null && typeof req === 'object' && MALFORMED in req) {
      return toServiceError(new InvalidArgumentError(`malformed request: ${(req as Malformed)[MALFORMED]}`));
    }
    return undefined;
  }

  /** The unary handlers' bodies by method name, for Batch to run ops with. */
  private readonly ops = new Map<string, (req: Record<string, unknown>) => Promise<unknown>>();

  private unary(method: string, fn: (req: Record<string, unknown>, call: grpc.ServerUnaryCall<unknown, unknown>) => Promise<unknown>): grpc.handleUnaryCall<unknown, unknown> {
    this.ops.set(method, fn as (req: Record<string, unknown>) => Promise<unknown>);
    return (call, callback) => {
      const done = this.track(method, call);
      const refused = this.gate(call.metadata, call.request);
      if (refused !== undefined) {
        done(refused);
        return callback(refused);
      }
      fn(call.request as Record<string, unknown>, call).then(
        (res) => {
          done();
          callback(null, res);
        },
        (e: unknown) => {
          const st = this.statusOf(e);
          done(st, e);
          callback(st);
        },
      );
    };
  }

  /**
   * A handler's failure as a status; a NOT_LEADER that names the leader's store gets that
   * store's gRPC address as `details.leaderAddress` when the topology knows it.
   */
  private statusOf(e: unknown): Partial<grpc.StatusObject> {
    const topo = this.options.topology;
    if (topo !== undefined && e instanceof KvError && e.code === 'NOT_LEADER') {
      const d = e.details as { leader?: { storeId?: number }; regionId?: number; leaderAddress?: string };
      let storeId = d.leader?.storeId;
      if (storeId === undefined && typeof d.regionId === 'number') storeId = topo.leaderOf(d.regionId)?.storeId;
      const address = storeId === undefined ? undefined : topo.storeAddress(storeId);
      if (address !== undefined && d.leaderAddress === undefined) return toServiceError(new KvError('NOT_LEADER', e.message, { ...e.details, leaderAddress: address, leaderStoreId: storeId }, { cause: e }));
    }
    return toServiceError(e);
  }

  /** A region as the wire has it: peers with their stores' addresses, the leader when known. */
  private regionMessage(g: Region): Record<string, unknown> {
    const topo = this.options.topology;
    const leader = topo?.leaderOf(g.id);
    // Peers as the consensus has them (raft's membership; placement's copy may only know the bootstrap peer).
    let peers = g.peers;
    try {
      const view = this.options.consensus?.getRegion(g.id);
      if (view !== undefined && view.peers.length > 0) peers = view.peers;
    } catch {
      // a region this node's consensus does not hold: placement's peers stand
    }
    return {
      id: String(g.id),
      startKey: g.startKey,
      endKey: g.endKey,
      confVer: String(g.epoch.confVer),
      version: String(g.epoch.version),
      peers: peers.map((p) => ({ id: String(p.id), storeId: String(p.storeId), role: p.role, address: topo?.storeAddress(p.storeId) ?? '' })),
      inFlashback: g.flashback.inFlashback,
      flashbackStartTs: g.flashback.flashbackStartTs.toString(),
      leaderPeerId: String(leader?.peerId ?? 0),
    };
  }

  /**
   * A changefeed on a node of a process cluster is served only where every region of its range is
   * led: a follower applies a commit after its leader, so the resolved ts it computes from its own
   * replica and a fresh TSO can pass a commit it has not applied yet (seen on 3 processes: 14-40
   * of 320 rows arrived below a resolved ts already sent). A range with a region led elsewhere is
   * refused NOT_LEADER naming each region's leader and address.
   */
  private checkFeedLeader(s: Uint8Array | undefined, e: Uint8Array | undefined): void {
    const topo = this.options.topology;
    if (topo?.localStoreId === undefined) return;
    const regions = this.options.placement.regionsInRange(s === undefined ? new Uint8Array(0) : codec.encodeBytes(s), e === undefined ? new Uint8Array(0) : codec.encodeBytes(e));
    const elsewhere = regions.filter((g) => topo.leaderOf(g.id)?.storeId !== topo.localStoreId);
    if (elsewhere.length === 0) return;
    const who = elsewhere.map((g) => {
      const l = topo.leaderOf(g.id)?.storeId;
      return `region ${g.id} ${l === undefined ? 'has no known leader' : `is led by store ${l} (${topo.storeAddress(l) ?? 'address unknown'})`}`;
    }).join('; ');
    const first = topo.leaderOf(elsewhere[0]!.id);
    throw new KvError('NOT_LEADER', `a changefeed on a process cluster needs every region of its range led by the node it is opened on (store ${topo.localStoreId}), since a follower's resolved ts can pass commits it has not applied yet: ${who}. Open it on the node leading the range (a flashback --preview of the range through a node gathers its leaders there), or one feed per range led by one node`, {
      regionId: elsewhere[0]!.id,
      ...(first !== undefined ? { leader: first } : {}),
      regions: elsewhere.map((g) => g.id),
    });
  }

  /** See ClusterTopology.localStoreId: throws unless this node leads every region of the flashback's range (or gathers them: run and preview). */
  private checkFlashbackLeader(r: Record<string, unknown>, gathers = false): void {
    const topo = this.options.topology;
    if (topo?.localStoreId === undefined || (gathers && topo.gathersLeaders === true)) return;
    const s = optionalKey(r['startKey'], 'startKey');
    const e = optionalKey(r['endKey'], 'endKey');
    const regions = this.options.placement.regionsInRange(s === undefined ? new Uint8Array(0) : codec.encodeBytes(s), e === undefined ? new Uint8Array(0) : codec.encodeBytes(e));
    const leaders = new Map<number, number[]>();
    for (const g of regions) {
      const l = topo.leaderOf(g.id)?.storeId ?? 0;
      const ids = leaders.get(l) ?? [];
      ids.push(g.id);
      leaders.set(l, ids);
    }
    if (leaders.size === 1 && leaders.has(topo.localStoreId)) return;
    if (leaders.size === 1 && !leaders.has(0)) {
      const [storeId] = [...leaders.keys()];
      throw new KvError('NOT_LEADER', `the regions of the flashback range are led by store ${storeId}; run the flashback there`, { regionId: regions[0]!.id, leader: { storeId } });
    }
    const who = [...leaders].map(([l, ids]) => `${l === 0 ? 'no known leader' : `store ${l}`}: regions ${ids.join(', ')}`).join('; ');
    throw new KvError('SERVER_BUSY', `the regions of the flashback range are not led by one node (${who}); retry once leadership settles, or flash back a range led by one node`, { leaders: Object.fromEntries(leaders) });
  }

  private gcMessage(): Record<string, unknown> {
    const p = this.options.placement;
    return { safePoint: p.gcSafePoint().toString(), paused: p.isGcPaused(), pausedBy: [...p.gcPausedBy()] };
  }

  private requireFlashback(): Flashback {
    if (this.options.flashback === undefined) throw new KvError('PLUGIN_MISSING', 'this node has no FLASHBACK service (add the flashback() plugin)');
    return this.options.flashback;
  }

  private requireCdc(): Cdc {
    if (this.options.cdc === undefined) throw new KvError('PLUGIN_MISSING', 'this node has no CDC service (add the cdc() plugin)');
    return this.options.cdc;
  }

  /**
   * One changefeed stream. The client's cancel (or disconnect) unsubscribes the feed; shutdown
   * ends it UNAVAILABLE; a feed error (CDC_LAGGING) ends it with that status. Events wait in
   * grpc-js's send buffer when the client reads slowly: past `maxFeedBacklog` of them the stream
   * ends CDC_LAGGING instead of growing without bound (the CDC queue behind it is bounded too).
   */
  private changefeed(call: grpc.ServerWritableStream<unknown, unknown>): void {
    const done = this.track('Changefeed', call);
    const refused = this.gate(call.metadata, call.request);
    if (refused !== undefined) {
      done(refused);
      return void call.emit('error', refused);
    }
    let feed$;
    try {
      const cdc = this.requireCdc();
      const r = call.request as Record<string, unknown>;
      const startKey = optionalKey(r['startKey'], 'startKey');
      const endKey = optionalKey(r['endKey'], 'endKey');
      this.checkFeedLeader(startKey, endKey);
      feed$ = cdc.changefeed({
        startTs: u64('startTs', r['startTs']),
        ...(startKey !== undefined ? { startKey } : {}),
        ...(endKey !== undefined ? { endKey } : {}),
        withOldValue: r['withOldValue'] === true,
      });
    } catch (e) {
      const st = toServiceError(e);
      done(st, e);
      return void call.emit('error', st);
    }
    const backlog = this.options.maxFeedBacklog ?? 100_000;
    let open = true;
    let sub: { unsubscribe(): void } | undefined;
    let watch: ReturnType<typeof setInterval> | undefined;
    const release = () => {
      open = false;
      if (watch !== undefined) clearInterval(watch);
      this.streams.delete(close);
      if (sub !== undefined) {
        sub.unsubscribe();
        sub = undefined;
        this.feedsOpen--;
      }
    };
    const finish = (status?: Partial<grpc.StatusObject>) => {
      if (!open) return;
      release();
      done(status);
      if (status === undefined) call.end();
      else call.emit('error', status);
    };
    const close = () => finish({ code: grpc.status.UNAVAILABLE, details: 'server shutting down; reopen the changefeed from the last globalResolvedTs' });
    this.streams.add(close);
    call.on('cancelled', () => {
      if (!open) return;
      release();
      done({ code: grpc.status.CANCELLED, details: 'client cancelled or disconnected' });
    });
    this.feedsOpen++;
    // A region of the range whose leadership moves away (balancer, failover) ends the feed with
    // the same NOT_LEADER within a second, rather than going on with a follower's resolved ts.
    const r0 = call.request as Record<string, unknown>;
    if (this.options.topology?.localStoreId !== undefined) {
      watch = setInterval(() => {
        try {
          this.checkFeedLeader(optionalKey(r0['startKey'], 'startKey'), optionalKey(r0['endKey'], 'endKey'));
        } catch (e) {
          finish(toServiceError(e));
        }
      }, 1000);
      watch.unref();
    }
    // The incremental scan is delivered synchronously inside subscribe, so `sub` is assigned
    // only afterwards: a failure during it is handled by `finish`, which sees sub undefined.
    const s = feed$.subscribe({
      next: (e) => {
        if (!open) return;
        call.write(eventMessage(e));
        if (call.writableLength > backlog) finish(toServiceError(new KvError('CDC_LAGGING', `changefeed client fell ${call.writableLength} messages behind (limit ${backlog})`, { pending: call.writableLength })));
      },
      error: (e: unknown) => finish(toServiceError(e)),
      complete: () => finish(),
    });
    if (open) sub = s;
    else {
      s.unsubscribe();
      this.feedsOpen--;
    }
  }

  /**
   * The region check of a request that carries a RegionContext (region-aware clients): the
   * region must exist, have the epoch the client routed with, and hold every key. Storage
   * routes the request by itself afterwards, so a split racing this check is still served
   * correctly; the check is what tells a client its cached directory is stale.
   */
  private checkContext(r: Record<string, unknown>, keys: readonly Uint8Array[]): void {
    const c = r['context'];
    if (c === null || c === undefined) return;
    const ctx = obj('context', c);
    const id = u64('context.regionId', ctx['regionId']);
    if (id === 0n) return;
    if (id > BigInt(Number.MAX_SAFE_INTEGER)) throw new KvError('REGION_NOT_FOUND', `region ${id} does not exist`, { regionId: id });
    const region = this.options.placement.getRegion(Number(id));
    const version = Number(u64('context.version', ctx['version']));
    const confVer = Number(u64('context.confVer', ctx['confVer']));
    if (region.epoch.version !== version || region.epoch.confVer !== confVer) throw epochNotMatch(region, { version, confVer });
    for (const k of keys) {
      const e = checkKeyInRegion(region, codec.encodeBytes(bytes('key', k)));
      if (e !== undefined) throw e;
    }
  }

  /** The ops of a Batch (or of one BatchStream message), each run as its own call would be. */
  private async runBatch(r: Record<string, unknown>, call: { getPeer(): string }): Promise<{ results: unknown[] }> {
    const ops = list('ops', r['ops']);
    if (ops.length > MAX_BATCH_OPS) throw new InvalidArgumentError(`a batch holds at most ${MAX_BATCH_OPS} ops, got ${ops.length}`);
    // Validate the whole batch first: a malformed op fails the batch, as it would its own call.
    const runs = ops.map((o, i) => {
      const op = obj(`ops[${i}]`, o);
      const kind = op['op'];
      const method = typeof kind === 'string' ? BATCH_KINDS[kind] : undefined;
      if (method === undefined) throw new InvalidArgumentError(`ops[${i}] names no known request`);
      return { kind: kind as string, method, req: obj(`ops[${i}].${String(kind)}`, op[kind as string]) };
    });
    const results = await Promise.all(
      runs.map(async ({ kind, method, req }) => {
        const done = this.track(method, call);
        try {
          const res = await this.ops.get(method)!(req);
          done();
          return { [kind]: res };
        } catch (e) {
          const st = this.statusOf(e);
          done(st, e);
          return {
            error: {
              grpcCode: st.code ?? grpc.status.UNKNOWN,
              message: st.details ?? '',
              kvCode: String(st.metadata?.get(ERROR_CODE_KEY)[0] ?? ''),
              kvDetails: String(st.metadata?.get(ERROR_DETAILS_KEY)[0] ?? ''),
            },
          };
        }
      }),
    );
    return { results };
  }

  /**
   * One BatchStream: auth once at open, then every request message is run as a Batch and
   * answered with its id. The client's cancel or disconnect ends it (answers still being
   * computed are dropped); shutdown ends it UNAVAILABLE.
   */
  private batchStream(call: grpc.ServerDuplexStream<unknown, unknown>): void {
    const done = this.track('BatchStream', call);
    if (!this.authorised(call.metadata)) {
      const st = { code: grpc.status.UNAUTHENTICATED, details: 'missing or wrong bearer token' };
      done(st);
      return void call.emit('error', st);
    }
    let open = true;
    const finish = (status?: Partial<grpc.StatusObject>) => {
      if (!open) return;
      open = false;
      this.streams.delete(close);
      this.batchStreamsOpen--;
      done(status);
      if (status === undefined) call.end();
      else call.emit('error', status);
    };
    const close = () => finish({ code: grpc.status.UNAVAILABLE, details: 'server shutting down; reopen the batch stream' });
    this.streams.add(close);
    this.batchStreamsOpen++;
    let pending = 0;
    let ended = false;
    call.on('data', (m: unknown) => {
      if (!open) return;
      if (m !== null && typeof m === 'object' && MALFORMED in m) return finish(toServiceError(new InvalidArgumentError(`malformed request: ${(m as Malformed)[MALFORMED]}`)));
      const r = m as Record<string, unknown>;
      let id: bigint;
      try {
        id = u64('id', r['id']);
      } catch (e) {
        return finish(toServiceError(e));
      }
      pending++;
      this.runBatch(r, call).then(
        (res) => {
          pending--;
          if (open) call.write({ id: id.toString(), results: res.results });
          if (ended && pending === 0) finish();
        },
        (e: unknown) => finish(toServiceError(e)),
      );
    });
    call.on('end', () => {
      ended = true;
      if (pending === 0) finish();
    });
    call.on('cancelled', () => {
      if (!open) return;
      open = false;
      this.streams.delete(close);
      this.batchStreamsOpen--;
      done({ code: grpc.status.CANCELLED, details: 'client cancelled or disconnected' });
    });
  }

  private handlers(): grpc.UntypedServiceImplementation {
    const { storage, placement } = this.options;
    const target = (r: Record<string, unknown>) => {
      const range = { ...optionalRange(r) };
      if (r['target'] === 'version') return { version: u64('version', r['version']), ...range };
      if (r['target'] === 'time' && typeof r['time'] === 'string' && r['time'] !== '') {
        // An ISO instant (what FlashKvClient sends for a Date) is zone-free; the
        // 'YYYY-MM-DD HH:MM:SS' form is the server's local time, as the FLASHBACK service reads it.
        if (/^\d{4}-\d\d-\d\dT/.test(r['time'])) {
          const at = new Date(r['time']);
          if (Number.isNaN(at.getTime())) throw new InvalidArgumentError(`time ${JSON.stringify(r['time'])} is not a valid ISO 8601 instant`);
          return { time: at, ...range };
        }
        return { time: r['time'], ...range };
      }
      throw new InvalidArgumentError('flashback needs a version or a time');
    };
    const optionalRange = (r: Record<string, unknown>) => {
      const s = optionalKey(r['startKey'], 'startKey');
      const e = optionalKey(r['endKey'], 'endKey');
      return { ...(s !== undefined ? { startKey: s } : {}), ...(e !== undefined ? { endKey: e } : {}) };
    };
    return {
      Changefeed: (call: grpc.ServerWritableStream<unknown, unknown>) => this.changefeed(call),
      Tso: this.unary('Tso', async (r) => {
        const n = u32(r['count']) || 1;
        if (n > MAX_TSO_COUNT) throw new InvalidArgumentError(`count ${n} is over the limit ${MAX_TSO_COUNT}`);
        const ts = n === 1 ? [await placement.getTs()] : await placement.getTs(n);
        return { ts: ts.map(String) };
      }),
      Get: this.unary('Get', async (r) => {
        const key = bytes('key', r['key']);
        this.checkContext(r, [key]);
        const v = await storage.get(key, u64('ts', r['ts']));
        return v === undefined ? { found: false } : { found: true, value: v };
      }),
      BatchGet: this.unary('BatchGet', async (r) => {
        const keys = bytesList('keys', r['keys']);
        this.checkContext(r, keys);
        return { pairs: await storage.batchGet(keys, u64('ts', r['ts'])) };
      }),
      Scan: this.unary('Scan', async (r) => {
        const start = optionalKey(r['start'], 'start');
        const end = optionalKey(r['end'], 'end');
        const limit = u32(r['limit']);
        const pairs = await storage.scan({
          ts: u64('ts', r['ts']),
          ...(start !== undefined ? { start } : {}),
          ...(end !== undefined ? { end } : {}),
          ...(limit > 0 ? { limit } : {}),
          reverse: r['reverse'] === true,
          keyOnly: r['keyOnly'] === true,
        });
        return { pairs };
      }),
      Prewrite: this.unary('Prewrite', async (r) => {
        const mutations: StorageMutation[] = list('mutations', r['mutations']).map((m, i) => {
          const o = obj(`mutations[${i}]`, m);
          const op = o['op'];
          if (typeof op !== 'string' || !MUTATION_OPS.has(op)) throw new InvalidArgumentError(`mutations[${i}].op must be one of ${[...MUTATION_OPS].join(', ')}, got "${String(op)}"`);
          const key = bytes(`mutations[${i}].key`, o['key']);
          return op === 'put' || op === 'insert' ? { op: op as StorageMutation['op'], key, value: bytes(`mutations[${i}].value`, o['value']) } : { op: op as StorageMutation['op'], key };
        });
        this.checkContext(r, mutations.map((m) => m.key));
        const minCommitTs = u64('minCommitTs', r['minCommitTs']);
        const res = await storage.prewrite({
          mutations,
          primary: bytes('primary', r['primary']),
          startTs: u64('startTs', r['startTs']),
          lockTtl: u64('lockTtl', r['lockTtl']),
          tryOnePc: r['tryOnePc'] === true,
          ...(minCommitTs > 0n ? { minCommitTs } : {}),
        });
        return { minCommitTs: res.minCommitTs.toString(), onePcCommitTs: res.onePcCommitTs.toString() };
      }),
      Commit: this.unary('Commit', async (r) => {
        const keys = bytesList('keys', r['keys']);
        this.checkContext(r, keys);
        await storage.commit({ keys, startTs: u64('startTs', r['startTs']), commitTs: u64('commitTs', r['commitTs']) });
        return {};
      }),
      Rollback: this.unary('Rollback', async (r) => {
        const keys = bytesList('keys', r['keys']);
        this.checkContext(r, keys);
        await storage.rollback({ keys, startTs: u64('startTs', r['startTs']) });
        return {};
      }),
      CheckTxnStatus: this.unary('CheckTxnStatus', async (r) => {
        const s = await storage.checkTxnStatus({
          primaryKey: bytes('primaryKey', r['primaryKey']),
          lockTs: u64('lockTs', r['lockTs']),
          callerStartTs: u64('callerStartTs', r['callerStartTs']),
          currentTs: u64('currentTs', r['currentTs']),
          rollbackIfNotExist: r['rollbackIfNotExist'] === true,
        });
        const out: Record<string, unknown> = { kind: s.kind };
        if (s.kind === 'committed') out['commitTs'] = s.commitTs.toString();
        if (s.kind === 'locked') Object.assign(out, { ttl: s.ttl.toString(), minCommitTs: s.minCommitTs.toString(), lockTs: s.lock.startTs.toString() });
        return out;
      }),
      ResolveLock: this.unary('ResolveLock', async (r) => {
        const keys = bytesList('keys', r['keys']);
        const n = await storage.resolveLock({ startTs: u64('startTs', r['startTs']), commitTs: u64('commitTs', r['commitTs']), ...(keys.length > 0 ? { keys } : {}) });
        return { resolved: n };
      }),
      BatchStream: (call: grpc.ServerDuplexStream<unknown, unknown>) => this.batchStream(call),
      Batch: this.unary('Batch', async (r, call) => this.runBatch(r, call)),
      Regions: this.unary('Regions', async () => ({ regions: placement.regions().map((g) => this.regionMessage(g)) })),
      Split: this.unary('Split', async (r) => {
        const consensus = this.options.consensus;
        if (consensus === undefined) throw new KvError('PLUGIN_MISSING', 'this node has no consensus to split regions with');
        const key = bytes('key', r['key']);
        if (key.length === 0) throw new InvalidArgumentError('split needs a non-empty key (the empty key is the start of the key space)');
        const enc = codec.encodeBytes(key);
        const region = placement.regionForKey(enc);
        if (compareBytes(region.startKey, enc) === 0) throw new InvalidArgumentError(`key ${JSON.stringify(Buffer.from(key).toString())} is already a region boundary (region ${region.id} starts there)`, { regionId: region.id });
        const res = await consensus.admin({ regionId: region.id, epoch: region.epoch }, { type: 'split', splitKey: enc });
        if (res.type !== 'split') throw new Error(`split answered ${res.type}`);
        return { left: this.regionMessage(res.left), right: this.regionMessage(res.right) };
      }),
      GetGcSafePoint: this.unary('GetGcSafePoint', async () => this.gcMessage()),
      UpdateGcSafePoint: this.unary('UpdateGcSafePoint', async (r) => {
        const ts = u64('safePoint', r['safePoint']);
        const current = placement.gcSafePoint();
        if (ts < current) throw new InvalidArgumentError(`GC safe point ${ts} is behind the current one ${current}; the safe point never moves back`, { current, requested: ts });
        if (ts === current) return this.gcMessage();
        if (placement.isGcPaused()) throw new KvError('GC_TOO_EARLY', `GC is paused by ${placement.gcPausedBy().join(', ')}; the safe point stays at ${current}`, { current, pausedBy: [...placement.gcPausedBy()] });
        // A safe point past every timestamp handed out would make reads at fresh timestamps fail.
        const now = await placement.getTs();
        if (ts > now) throw new InvalidArgumentError(`GC safe point ${ts} is ahead of the latest timestamp ${now}`, { latest: now, requested: ts });
        await placement.updateGcSafePoint(ts);
        return this.gcMessage();
      }),
      Gc: this.unary('Gc', async (r) => {
        const requested = u64('safePoint', r['safePoint']);
        const res = await storage.gc({ safePoint: requested === 0n ? placement.gcSafePoint() : requested });
        return { safePoint: res.safePoint.toString(), paused: res.paused, keys: String(res.keys), deletedVersions: String(res.deletedVersions) };
      }),
      FlashbackPreview: this.unary('FlashbackPreview', async (r) => {
        this.checkFlashbackLeader(r, true);
        const p = await this.requireFlashback().preview(target(r));
        return {
          version: p.version.toString(),
          keysToRewrite: String(p.keysToRewrite),
          toDelete: String(p.toDelete),
          toRestore: String(p.toRestore),
          toUpdate: String(p.toUpdate),
          unchanged: String(p.unchanged),
          locks: String(p.locks),
          regions: p.regions,
          sample: p.sample.map((s) => ({
            key: s.key,
            kind: s.kind,
            hasCurrent: s.current !== undefined,
            current: s.current ?? new Uint8Array(0),
            hasTarget: s.target !== undefined,
            target: s.target ?? new Uint8Array(0),
          })),
        };
      }),
      Flashback: (call: grpc.ServerWritableStream<unknown, unknown>) => {
        const done = this.track('Flashback', call);
        const refused = this.gate(call.metadata, call.request);
        if (refused !== undefined) {
          done(refused);
          return void call.emit('error', refused);
        }
        let run;
        try {
          const r = call.request as Record<string, unknown>;
          const policy = r['lockPolicy'];
          if (policy !== '' && policy !== 'rollback' && policy !== 'resolve') throw new InvalidArgumentError(`lockPolicy must be "rollback" or "resolve", got "${String(policy)}"`);
          this.requireFlashback();
          this.checkFlashbackLeader(r, true);
          run = this.requireFlashback().run({ ...target(r), ...(policy === '' ? {} : { lockPolicy: policy }) });
        } catch (e) {
          const st = this.statusOf(e);
          done(st, e);
          return void call.emit('error', st);
        }
        // A client that goes away stops its stream; the job itself runs to the end (a half-done
        // flashback leaves regions in flashback state, so it is never abandoned).
        const sub = run.progress$.subscribe({
          next: (p) => {
            this.metrics.flashbackKeys.set(p.keysRewritten);
            this.metrics.flashbackRegions.set(p.regionsFinished);
            call.write(progressMessage(p));
          },
          error: () => undefined,
        });
        let open = true;
        this.flashbackStreamsOpen++;
        const finish = (status?: Partial<grpc.StatusObject>) => {
          if (!open) return;
          open = false;
          this.flashbackStreamsOpen--;
          sub.unsubscribe();
          this.streams.delete(close);
          done(status);
          if (status === undefined) call.end();
          else call.emit('error', status);
        };
        const close = () => finish({ code: grpc.status.UNAVAILABLE, details: `server shutting down; flashback job ${run.jobId} continues on the node` });
        this.streams.add(close);
        call.on('cancelled', () => {
          if (!open) return;
          done({ code: grpc.status.CANCELLED, details: `client cancelled or disconnected; flashback job ${run.jobId} continues` });
          open = false;
          this.flashbackStreamsOpen--;
          sub.unsubscribe();
          this.streams.delete(close);
        });
        run.done.then(
          () => finish(),
          (e: unknown) => finish(toServiceError(e)),
        );
      },
    };
  }
}
