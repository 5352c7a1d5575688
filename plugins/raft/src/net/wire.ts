import { CorruptedError } from '@flashkv/core';
import type { Entry, Message, MessageType, Snapshot } from '../core/index.js';
import { Reader, Writer } from '../store/codec.js';
import type { RaftEnvelope } from '../store/transport.js';

/*
 * The wire between FlashKV raft processes. Every frame is `u32 length, body` (big-endian), the
 * body starting with a frame type byte. A connection opens with HELLO (protocol version, role,
 * store id, cluster token) and the listener answers HELLO_OK or closes; only then do RAFT frames
 * (a batch of envelopes from the hello's store) or client REQUEST/RESPONSE frames flow.
 */

export const WIRE_VERSION = 1;
/** Default largest frame body accepted or sent: 64 MiB (a region snapshot travels in one frame). */
export const DEFAULT_MAX_FRAME_BYTES = 64 * 1024 * 1024;

export const FRAME_HELLO = 1;
export const FRAME_HELLO_OK = 2;
export const FRAME_RAFT = 3;
export const FRAME_REQUEST = 4;
export const FRAME_RESPONSE = 5;

export const ROLE_PEER = 1;
export const ROLE_CLIENT = 2;

/** A peer broke the protocol (bad length, unknown type, undecodable body): its connection is closed. */
export class FrameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FrameError';
  }
}

/** Prefixes a body with its u32 length. */
export function frame(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + body.length);
  new DataView(out.buffer).setUint32(0, body.length);
  out.set(body, 4);
  return out;
}

/**
 * Splits a byte stream into frame bodies. A length of zero or above `maxFrameBytes` throws
 * `FrameError` before any of the body is buffered, so an oversized claim costs no memory.
 */
export class FrameDecoder {
  private chunks: Uint8Array[] = [];
  private buffered = 0;
  constructor(private readonly maxFrameBytes: number) {}

  push(chunk: Uint8Array): Uint8Array[] {
    // A plain Uint8Array view (not a Buffer), so decoders' slice() copies out of socket memory.
    if (Buffer.isBuffer(chunk)) chunk = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const out: Uint8Array[] = [];
    for (;;) {
      if (this.buffered < 4) break;
      const head = this.peek(4);
      const len = new DataView(head.buffer, head.byteOffset, 4).getUint32(0);
      if (len === 0) throw new FrameError('empty frame');
      if (len > this.maxFrameBytes) throw new FrameError(`frame of ${len} bytes exceeds the maximum ${this.maxFrameBytes}`);
      if (this.buffered < 4 + len) break;
      const all = this.take(4 + len);
      out.push(all.subarray(4));
    }
    return out;
  }

  private peek(n: number): Uint8Array {
    if (this.chunks[0]!.length >= n) return this.chunks[0]!;
    return this.concat().subarray(0, n);
  }

  private concat(): Uint8Array {
    if (this.chunks.length === 1) return this.chunks[0]!;
    const all = new Uint8Array(this.buffered);
    let at = 0;
    for (const c of this.chunks) {
      all.set(c, at);
      at += c.length;
    }
    this.chunks = [all];
    return all;
  }

  private take(n: number): Uint8Array {
    const all = this.concat();
    const head = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.buffered = rest.length;
    return head;
  }
}

// ---- hello ----

export interface Hello {
  readonly version: number;
  readonly role: number;
  readonly storeId: number;
  readonly token: Uint8Array;
}

export function encodeHello(h: Hello): Uint8Array {
  return new Writer(32 + h.token.length).u8(FRAME_HELLO).u8(h.version).u8(h.role).u64(h.storeId).bytes(h.token).done();
}

export function decodeHello(body: Uint8Array): Hello {
  return wrap('hello', () => {
    const r = new Reader(body, 'hello');
    if (r.u8() !== FRAME_HELLO) throw new FrameError('first frame is not a hello');
    const version = r.u8();
    const role = r.u8();
    const storeId = r.num();
    const token = r.bytes();
    r.end();
    return { version, role, storeId, token };
  });
}

export function encodeHelloOk(storeId: number): Uint8Array {
  return new Writer(9).u8(FRAME_HELLO_OK).u64(storeId).done();
}

export function decodeHelloOk(body: Uint8Array): number {
  return wrap('hello ok', () => {
    const r = new Reader(body, 'hello ok');
    if (r.u8() !== FRAME_HELLO_OK) throw new FrameError('expected a hello ok');
    const id = r.num();
    r.end();
    return id;
  });
}

// ---- raft messages ----

const TYPES: readonly MessageType[] = ['app', 'appResp', 'vote', 'voteResp', 'preVote', 'preVoteResp', 'snap', 'heartbeat', 'heartbeatResp', 'timeoutNow', 'transferLeader', 'readIndex', 'readIndexResp'];
const TYPE_CODE = new Map(TYPES.map((t, i) => [t, i + 1]));

const F_LOG_TERM = 1 << 0;
const F_INDEX = 1 << 1;
const F_COMMIT = 1 << 2;
const F_REJECT = 1 << 3;
const F_REJECT_TRUE = 1 << 4;
const F_REJECT_HINT = 1 << 5;
const F_FORCE = 1 << 6;
const F_FORCE_TRUE = 1 << 7;
const F_TRANSFEREE = 1 << 8;
const F_CONTEXT = 1 << 9;
const F_ENTRIES = 1 << 10;
const F_SNAPSHOT = 1 << 11;
const F_ALL = (1 << 12) - 1;

function writeMessage(w: Writer, m: Message): void {
  const code = TYPE_CODE.get(m.type);
  if (code === undefined) throw new TypeError(`unknown raft message type ${String(m.type)}`);
  let f = 0;
  if (m.logTerm !== undefined) f |= F_LOG_TERM;
  if (m.index !== undefined) f |= F_INDEX;
  if (m.commit !== undefined) f |= F_COMMIT;
  if (m.reject !== undefined) f |= F_REJECT | (m.reject ? F_REJECT_TRUE : 0);
  if (m.rejectHint !== undefined) f |= F_REJECT_HINT;
  if (m.force !== undefined) f |= F_FORCE | (m.force ? F_FORCE_TRUE : 0);
  if (m.transferee !== undefined) f |= F_TRANSFEREE;
  if (m.context !== undefined) f |= F_CONTEXT;
  if (m.entries !== undefined) f |= F_ENTRIES;
  if (m.snapshot !== undefined) f |= F_SNAPSHOT;
  w.u8(code).u16(f).u64(m.from).u64(m.to).u64(m.term);
  if (m.logTerm !== undefined) w.u64(m.logTerm);
  if (m.index !== undefined) w.u64(m.index);
  if (m.commit !== undefined) w.u64(m.commit);
  if (m.rejectHint !== undefined) w.u64(m.rejectHint);
  if (m.transferee !== undefined) w.u64(m.transferee);
  if (m.context !== undefined) w.bytes(m.context);
  if (m.entries !== undefined) {
    w.u32(m.entries.length);
    for (const e of m.entries) w.u64(e.term).u64(e.index).u8(e.type === 'normal' ? 0 : 1).bytes(e.data);
  }
  if (m.snapshot !== undefined) {
    const s = m.snapshot;
    w.u64(s.metadata.index).u64(s.metadata.term);
    w.u32(s.metadata.confState.voters.length);
    for (const v of s.metadata.confState.voters) w.u64(v);
    w.u32(s.metadata.confState.learners.length);
    for (const l of s.metadata.confState.learners) w.u64(l);
    w.bytes(s.data);
  }
}

function readMessage(r: Reader): Message {
  const type = TYPES[r.u8() - 1];
  if (type === undefined) throw new FrameError('unknown raft message type');
  const f = r.u16();
  if ((f & ~F_ALL) !== 0) throw new FrameError('unknown raft message flags');
  const m: { -readonly [K in keyof Message]: Message[K] } = { type, from: r.num(), to: r.num(), term: r.num() };
  if (f & F_LOG_TERM) m.logTerm = r.num();
  if (f & F_INDEX) m.index = r.num();
  if (f & F_COMMIT) m.commit = r.num();
  if (f & F_REJECT_HINT) m.rejectHint = r.num();
  if (f & F_TRANSFEREE) m.transferee = r.num();
  if (f & F_REJECT) m.reject = (f & F_REJECT_TRUE) !== 0;
  if (f & F_FORCE) m.force = (f & F_FORCE_TRUE) !== 0;
  if (f & F_CONTEXT) m.context = r.bytes();
  if (f & F_ENTRIES) {
    const n = r.u32();
    const entries: Entry[] = [];
    for (let i = 0; i < n; i++) {
      const term = r.num();
      const index = r.num();
      const t = r.u8();
      if (t > 1) throw new FrameError('unknown entry type');
      entries.push({ term, index, type: t === 0 ? 'normal' : 'confChange', data: r.bytes() });
    }
    m.entries = entries;
  }
  if (f & F_SNAPSHOT) {
    const index = r.num();
    const term = r.num();
    const voters: number[] = [];
    for (let i = r.u32(); i > 0; i--) voters.push(r.num());
    const learners: number[] = [];
    for (let i = r.u32(); i > 0; i--) learners.push(r.num());
    const snap: Snapshot = { metadata: { index, term, confState: { voters, learners } }, data: r.bytes() };
    m.snapshot = snap;
  }
  return m;
}

/** The bytes one envelope takes in a RAFT frame (without the frame's own header). */
export function encodeEnvelope(env: RaftEnvelope): Uint8Array {
  const w = new Writer(64 + (env.message.entries?.reduce((n, e) => n + e.data.length + 21, 0) ?? 0) + (env.message.snapshot?.data.length ?? 0));
  w.u64(env.regionId).u64(env.toStore);
  writeMessage(w, env.message);
  return w.done();
}

/** A RAFT frame body from envelopes already encoded with `encodeEnvelope`. */
export function encodeRaftFrame(encoded: readonly Uint8Array[]): Uint8Array {
  let size = 5;
  for (const e of encoded) size += e.length;
  const out = new Uint8Array(size);
  out[0] = FRAME_RAFT;
  new DataView(out.buffer).setUint32(1, encoded.length);
  let at = 5;
  for (const e of encoded) {
    out.set(e, at);
    at += e.length;
  }
  return out;
}

/** Decodes a RAFT frame; `fromStore` is the store the connection's hello named. */
export function decodeRaftFrame(body: Uint8Array, fromStore: number): RaftEnvelope[] {
  return wrap('raft frame', () => {
    const r = new Reader(body, 'raft frame');
    if (r.u8() !== FRAME_RAFT) throw new FrameError('expected a raft frame');
    const n = r.u32();
    const out: RaftEnvelope[] = [];
    for (let i = 0; i < n; i++) {
      const regionId = r.num();
      const toStore = r.num();
      out.push({ regionId, fromStore, toStore, message: readMessage(r) });
    }
    r.end();
    return out;
  });
}

/** Decoding errors of any kind become FrameError, so a caller has one thing to catch. */
export function wrap<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof FrameError) throw e;
    if (e instanceof CorruptedError || e instanceof RangeError || e instanceof TypeError) throw new FrameError(`bad ${what}: ${(e as Error).message}`);
    throw e;
  }
}
