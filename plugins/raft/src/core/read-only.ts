/**
 * Read index requests waiting for the leader to confirm it is still leader (Raft thesis 6.4):
 * the leader notes its commit index, sends a heartbeat round carrying the request's context, and
 * answers once a majority acknowledged that round. Heartbeat acknowledgements are cumulative: a
 * majority acking one request also confirms every request queued before it.
 */
export interface ReadRequest {
  readonly index: number;
  /** Who asked: this node, or a follower that forwarded the request. */
  readonly from: number;
  readonly ctx: Uint8Array;
  readonly acks: Set<number>;
}

export class ReadOnly {
  private readonly pending = new Map<string, ReadRequest>();
  private queue: string[] = [];

  add(index: number, from: number, ctx: Uint8Array): boolean {
    const key = ctxKey(ctx);
    if (this.pending.has(key)) return false;
    this.pending.set(key, { index, from, ctx, acks: new Set() });
    this.queue.push(key);
    return true;
  }

  /** Records an acknowledgement; returns the set of acks for that request (undefined if unknown). */
  recvAck(id: number, ctx: Uint8Array): ReadonlySet<number> | undefined {
    const req = this.pending.get(ctxKey(ctx));
    if (req === undefined) return undefined;
    req.acks.add(id);
    return req.acks;
  }

  /** Removes and returns the request for `ctx` and every request queued before it. */
  advance(ctx: Uint8Array): ReadRequest[] {
    const key = ctxKey(ctx);
    const at = this.queue.indexOf(key);
    if (at < 0) return [];
    const done = this.queue.slice(0, at + 1);
    this.queue = this.queue.slice(at + 1);
    const out: ReadRequest[] = [];
    for (const k of done) {
      out.push(this.pending.get(k)!);
      this.pending.delete(k);
    }
    return out;
  }

  /** The context of the newest pending request, sent with heartbeats so any ack confirms it. */
  lastPending(): Uint8Array | undefined {
    const key = this.queue[this.queue.length - 1];
    return key === undefined ? undefined : this.pending.get(key)!.ctx;
  }

  size(): number {
    return this.queue.length;
  }

  clear(): void {
    this.pending.clear();
    this.queue = [];
  }
}

export function ctxKey(ctx: Uint8Array): string {
  let s = '';
  for (let i = 0; i < ctx.length; i++) s += String.fromCharCode(ctx[i]!);
  return s;
}
