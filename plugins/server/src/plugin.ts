import { CONSENSUS, definePlugin, FLASHBACK, PLACEMENT, STORAGE, type Consensus, type Plugin, type Token } from '@flashkv/core';
import { CDC } from '@flashkv/cdc';
import type { DestinationStream, LevelWithSilent, Logger } from 'pino';
import { FlashKvServer, type ClusterTopology, type ServerTlsOptions } from './server.js';

export interface ServerPluginOptions {
  /** `host:port`; port 0 binds a free port (read it from `SERVER.port` after start). */
  readonly listen: string;
  /** Bearer token every call must carry; may be left out when `tls.clientCa` authenticates callers by certificate. */
  readonly token?: string;
  /** TLS (cert, key); with `clientCa`, mutual TLS: a client without a certificate signed by it is refused. */
  readonly tls?: ServerTlsOptions;
  /** pino logger, or a level (default FLASHKV_LOG_LEVEL, else silent) and a stream (default stderr) for one. */
  readonly logger?: Logger;
  readonly logLevel?: LevelWithSilent;
  readonly logStream?: DestinationStream;
  readonly maxMessageBytes?: number;
  /** `host:port` for Prometheus `GET /metrics` (needs the same bearer token). */
  readonly metricsListen?: string;
  /** How long stop waits for in-flight calls before cancelling them (default 5000 ms). */
  readonly shutdownGraceMs?: number;
  /** Changefeed messages a slow client may leave unread before its stream ends CDC_LAGGING (default 100,000). */
  readonly maxFeedBacklog?: number;
  /**
   * Store addresses and region leaders for the region list and NOT_LEADER hints, made from the
   * build's consensus (`flashkv serve` makes one for `--cluster n` and for `--store-id`); absent: peers carry no address.
   */
  readonly topology?: (consensus: Consensus | undefined, selfAddress: () => string | undefined) => ClusterTopology | undefined;
}

/** The running server, for the process that composed the build (e.g. to print the bound port). */
export const SERVER: Token<FlashKvServer> = Symbol('flashkv.server');

export const SERVER_PLUGIN_NAME = '@flashkv/server';

/**
 * The gRPC server as a plugin: requires STORAGE and PLACEMENT, serves flashback when a plugin
 * provides FLASHBACK and changefeeds when one provides CDC. It binds in start, after every plugin it uses has registered, and shuts
 * down first at stop (the kernel stops in reverse order), so no call reaches a stopped storage.
 */
export function server(options: ServerPluginOptions): Plugin {
  if (options === null || typeof options !== 'object' || typeof options.listen !== 'string' || (options.token === undefined && options.tls?.clientCa === undefined) || (options.token !== undefined && (typeof options.token !== 'string' || options.token === ''))) {
    throw new TypeError('server needs { listen: "host:port", token: "<non-empty>" } or { listen, tls: { cert, key, clientCa } }');
  }
  let instance: FlashKvServer | undefined;
  return definePlugin({
    name: SERVER_PLUGIN_NAME,
    version: '0.1.0',
    requires: [STORAGE, PLACEMENT],
    optional: [FLASHBACK, CDC, CONSENSUS],
    provides: [SERVER],
    register(ctx) {
      const flashback = ctx.tryResolve(FLASHBACK);
      const cdc = ctx.tryResolve(CDC);
      const consensus = ctx.tryResolve(CONSENSUS);
      const topology = options.topology?.(consensus, () => instance?.address);
      instance = new FlashKvServer({
        storage: ctx.resolve(STORAGE),
        placement: ctx.resolve(PLACEMENT),
        ...(consensus !== undefined ? { consensus } : {}),
        ...(topology !== undefined ? { topology } : {}),
        ...(options.token !== undefined ? { token: options.token } : {}),
        ...(options.tls !== undefined ? { tls: options.tls } : {}),
        ...(options.logger !== undefined ? { logger: options.logger } : {}),
        ...(options.logLevel !== undefined ? { logLevel: options.logLevel } : {}),
        ...(options.logStream !== undefined ? { logStream: options.logStream } : {}),
        ...(flashback !== undefined ? { flashback } : {}),
        ...(cdc !== undefined ? { cdc } : {}),
        ...(options.maxFeedBacklog !== undefined ? { maxFeedBacklog: options.maxFeedBacklog } : {}),
        ...(options.maxMessageBytes !== undefined ? { maxMessageBytes: options.maxMessageBytes } : {}),
        ...(options.metricsListen !== undefined ? { metricsListen: options.metricsListen } : {}),
      });
      ctx.provide(SERVER, instance);
    },
    async start() {
      await instance!.listen(options.listen);
    },
    async stop() {
      await instance?.shutdown(options.shutdownGraceMs ?? 5000);
    },
  });
}
