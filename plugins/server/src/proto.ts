import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/** plugins/server/proto/flashkv.proto, found from dist/src at run time. */
export const PROTO_PATH = fileURLToPath(new URL('../../proto/flashkv.proto', import.meta.url));

// longs as strings: a uint64 TSO does not fit a JS number; defaults so absent fields read as
// zero values rather than undefined, the proto3 meaning.
const LOAD_OPTIONS: protoLoader.Options = { keepCase: false, longs: String, enums: String, defaults: true, oneofs: true, bytes: Buffer };

let cached: grpc.ServiceDefinition | undefined;

/** The FlashKv service definition (method paths, serializers). */
export function flashKvService(): grpc.ServiceDefinition {
  if (cached !== undefined) return cached;
  const def = protoLoader.loadSync(PROTO_PATH, LOAD_OPTIONS);
  cached = def['flashkv.v1.FlashKv'] as grpc.ServiceDefinition;
  return cached;
}
