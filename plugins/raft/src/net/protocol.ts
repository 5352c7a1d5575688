import { Reader, Writer } from '../store/codec.js';
import { FRAME_REQUEST, FRAME_RESPONSE, FrameError, wrap } from './wire.js';

/*
 * The small client protocol a raft node process serves on its listen port (after a client hello):
 * REQUEST `u32 id, u8 op, args`; RESPONSE `u32 id, u8 status, ...`. Keys are user keys (the node
 * adds the data prefix); one region spans the key space.
 */

export const OP_PUT = 1;
export const OP_GET = 2;
/** Moves `amount` from one u64 balance to another and writes a record key, atomically, on the leader. */
export const OP_TRANSFER = 3;
/** Several puts in one raft entry (atomic). */
export const OP_MPUT = 4;
export const OP_STATUS = 5;
/** Test hook (nodes started with test hooks only): cut raft traffic to and from the given stores. */
export const OP_ISOLATE = 6;
/** Test hook: how many times a put to the key was applied on this node since it started. */
export const OP_APPLIED_COUNT = 7;
/** `count` timestamps from the meta (placement) group's leader: payload `count` x u64. */
export const OP_TSO = 8;
/** A placement command (meta-codec bytes) proposed on the meta leader: payload the encoded outcome. */
export const OP_META = 9;

export type Request =
  | { readonly op: typeof OP_PUT; readonly key: Uint8Array; readonly value: Uint8Array }
  | { readonly op: typeof OP_GET; readonly key: Uint8Array }
  | { readonly op: typeof OP_TRANSFER; readonly from: Uint8Array; readonly to: Uint8Array; readonly amount: bigint; readonly record: Uint8Array }
  | { readonly op: typeof OP_MPUT; readonly pairs: readonly (readonly [Uint8Array, Uint8Array])[] }
  | { readonly op: typeof OP_STATUS }
  | { readonly op: typeof OP_ISOLATE; readonly stores: readonly number[] }
  | { readonly op: typeof OP_APPLIED_COUNT; readonly key: Uint8Array }
  | { readonly op: typeof OP_TSO; readonly count: number }
  | { readonly op: typeof OP_META; readonly command: Uint8Array };

export function encodeRequest(id: number, req: Request): Uint8Array {
  const w = new Writer(64).u8(FRAME_REQUEST).u32(id).u8(req.op);
  switch (req.op) {
    case OP_PUT:
      w.bytes(req.key).bytes(req.value);
      break;
    case OP_GET:
    case OP_APPLIED_COUNT:
      w.bytes(req.key);
      break;
    case OP_TRANSFER:
      w.bytes(req.from).bytes(req.to).u64(req.amount).bytes(req.record);
      break;
    case OP_MPUT:
      w.u32(req.pairs.length);
      for (const [k, v] of req.pairs) w.bytes(k).bytes(v);
      break;
    case OP_STATUS:
      break;
    case OP_ISOLATE:
      w.u32(req.stores.length);
      for (const s of req.stores) w.u64(s);
      break;
    case OP_TSO:
      w.u32(req.count);
      break;
    case OP_META:
      w.bytes(req.command);
      break;
  }
  return w.done();
}

export function decodeRequest(body: Uint8Array): { id: number; req: Request } {
  return wrap('request', () => {
    const r = new Reader(body, 'request');
    if (r.u8() !== FRAME_REQUEST) throw new FrameError('expected a request');
    const id = r.u32();
    const op = r.u8();
    let req: Request;
    switch (op) {
      case OP_PUT:
        req = { op, key: r.bytes(), value: r.bytes() };
        break;
      case OP_GET:
      case OP_APPLIED_COUNT:
        req = { op, key: r.bytes() };
        break;
      case OP_TRANSFER:
        req = { op, from: r.bytes(), to: r.bytes(), amount: r.big(), record: r.bytes() };
        break;
      case OP_MPUT: {
        const pairs: [Uint8Array, Uint8Array][] = [];
        for (let n = r.u32(); n > 0; n--) pairs.push([r.bytes(), r.bytes()]);
        req = { op, pairs };
        break;
      }
      case OP_STATUS:
        req = { op };
        break;
      case OP_ISOLATE: {
        const stores: number[] = [];
        for (let n = r.u32(); n > 0; n--) stores.push(r.num());
        req = { op, stores };
        break;
      }
      case OP_TSO:
        req = { op, count: r.u32() };
        break;
      case OP_META:
        req = { op, command: r.bytes() };
        break;
      default:
        throw new FrameError(`unknown request op ${op}`);
    }
    r.end();
    return { id, req };
  });
}

export interface ErrorReply {
  readonly code: string;
  readonly message: string;
  /** The leader's store id when the node knows one (0 otherwise). */
  readonly leaderStore: number;
  /** True when the request certainly did not take effect (safe to retry elsewhere). */
  readonly certain: boolean;
}

export type Response = { readonly id: number; readonly ok: true; readonly payload: Uint8Array } | ({ readonly id: number; readonly ok: false } & ErrorReply);

const enc = new TextEncoder();
const dec = new TextDecoder();

export function encodeOk(id: number, payload: Uint8Array): Uint8Array {
  return new Writer(16 + payload.length).u8(FRAME_RESPONSE).u32(id).u8(0).bytes(payload).done();
}

export function encodeError(id: number, e: ErrorReply): Uint8Array {
  return new Writer(64).u8(FRAME_RESPONSE).u32(id).u8(1).bytes(enc.encode(e.code)).bytes(enc.encode(e.message)).u64(e.leaderStore).u8(e.certain ? 1 : 0).done();
}

export function decodeResponse(body: Uint8Array): Response {
  return wrap('response', () => {
    const r = new Reader(body, 'response');
    if (r.u8() !== FRAME_RESPONSE) throw new FrameError('expected a response');
    const id = r.u32();
    const status = r.u8();
    if (status === 0) {
      const payload = r.bytes();
      r.end();
      return { id, ok: true, payload };
    }
    const code = dec.decode(r.bytes());
    const message = dec.decode(r.bytes());
    const leaderStore = r.num();
    const certain = r.u8() === 1;
    r.end();
    return { id, ok: false, code, message, leaderStore, certain };
  });
}

export function u64Bytes(v: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, v);
  return b;
}

export function readU64(b: Uint8Array): bigint {
  if (b.length !== 8) throw new FrameError(`expected 8 bytes, got ${b.length}`);
  return new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0);
}
