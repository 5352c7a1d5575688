// A program that only uses FlashKvClient loads @flashkv/core, whose kernel (tsyringe) needs the
// reflect polyfill; loading it here spares every client entry point that line.
import 'reflect-metadata';
export { FlashKvServer, DEFAULT_MAX_MESSAGE_BYTES, serverLogger, type ClusterTopology, type FlashKvServerOptions, type ServerTlsOptions } from './server.js';
export { server, SERVER, SERVER_PLUGIN_NAME, type ServerPluginOptions } from './plugin.js';
export { FlashKvClient, RemoteTxn, type ClientTlsOptions, type FlashKvClientOptions, type GcRunResult, type GcSafePointInfo, type KvPairBytes, type RegionInfo, type RemoteTxnStatus, type RemoteFlashbackProgress } from './client.js';
export { STATUS_OF, ERROR_CODE_KEY, ERROR_DETAILS_KEY, toServiceError, fromServiceError } from './errors.js';
export { eventMessage, eventOf } from './cdc-wire.js';
export { PROTO_PATH, flashKvService } from './proto.js';
export { ServerMetrics } from './metrics.js';
