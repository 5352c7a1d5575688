/**
 * Placement on raft across processes: a node process (`RaftNode`) runs a meta peer beside its
 * store, serves OP_TSO and OP_META on its client port, and answers NOT_LEADER with the meta
 * leader's store id when it does not lead; `RaftClient.call` follows that hint. `NodeMetaRouter`
 * lets a process that hosts a node use `RaftPlacement` (`node.placement()`): the local peer when
 * it leads, the leader over the client protocol otherwise, reads from the local applied copy.
 */
import { KvError, freezeRegion, type KvErrorCode, type Region, type StorageEngine } from '@flashkv/core';
import { RaftClient, RaftClientError } from '../net/client.js';
import { OP_META, OP_TSO, readU64, u64Bytes } from '../net/protocol.js';
import { decodeMetaCommand, decodeMetaValue, encodeMetaCommand, encodeMetaValue, type MetaCommand } from './meta-codec.js';
import type { MetaOutcome, MetaPeer } from './meta-peer.js';
import type { MetaRegionChange, MetaResult, MetaState } from './meta-state.js';
import type { MetaRouter } from './raft-placement.js';

/** A NOT_LEADER whose hint is the meta leader (0 when unknown), never the data region's. */
function metaNotLeader(meta: MetaPeer, e: unknown): unknown {
  if (e instanceof KvError && e.code === 'NOT_LEADER') {
    const d = (e.details ?? {}) as { unknownOutcome?: boolean; stale?: boolean };
    return new KvError('NOT_LEADER', e.message, { ...d, leader: { storeId: meta.leaderStoreId() ?? 0 } });
  }
  return e;
}

/** Serves OP_TSO (`count` x u64) and OP_META (the encoded outcome) on a node's meta peer. */
export async function serveMetaRequest(meta: MetaPeer | undefined, req: { readonly op: typeof OP_TSO; readonly count: number } | { readonly op: typeof OP_META; readonly command: Uint8Array }): Promise<Uint8Array> {
  if (meta === undefined) throw new KvError('INVALID_ARGUMENT', 'this node runs no meta (placement) group: its data dir predates it');
  try {
    if (req.op === OP_TSO) {
      const ts = await meta.getTs(req.count);
      const out = new Uint8Array(8 * ts.length);
      ts.forEach((t, i) => out.set(u64Bytes(t), 8 * i));
      return out;
    }
    const outcome = await meta.propose(decodeMetaCommand(req.command));
    return encodeMetaValue(outcome);
  } catch (e) {
    throw metaNotLeader(meta, e);
  }
}

function reviveRegion(r: unknown): Region {
  return freezeRegion(r as Region);
}

function reviveResult(r: unknown): MetaResult {
  if (r === null) return undefined;
  if (typeof r === 'object' && r !== null && 'left' in r && 'right' in r) {
    const s = r as { left: unknown; right: unknown };
    return { left: reviveRegion(s.left), right: reviveRegion(s.right) };
  }
  if (typeof r === 'object' && r !== null && 'epoch' in r && 'peers' in r) return reviveRegion(r);
  return r as MetaResult;
}

/** Decodes an OP_META payload. */
export function decodeMetaOutcome(bytes: Uint8Array): MetaOutcome {
  const o = decodeMetaValue(bytes) as { result: unknown; changes: { reason: MetaRegionChange['reason']; region: unknown }[] };
  return { result: reviveResult(o.result), changes: o.changes.map((c) => ({ reason: c.reason, region: reviveRegion(c.region) })) };
}

/** `count` timestamps from the meta leader of a node cluster, through any node (hints followed). */
export async function getTsFromCluster(client: RaftClient, count = 1): Promise<bigint[]> {
  const p = await client.call({ op: OP_TSO, count }, true);
  const out: bigint[] = [];
  for (let i = 0; i < p.length; i += 8) out.push(readU64(p.subarray(i, i + 8)));
  return out;
}

/** Proposes a placement command on the meta leader of a node cluster (not retried when its outcome is unknown). */
export async function proposeToCluster(client: RaftClient, cmd: MetaCommand): Promise<MetaOutcome> {
  return decodeMetaOutcome(await client.call({ op: OP_META, command: encodeMetaCommand(cmd) }, false));
}

/**
 * The router of a process hosting a node: calls run on the local meta peer when it leads, else
 * go to the leader through `client`. Remote refusals come back as KvErrors with their code.
 */
export class NodeMetaRouter implements MetaRouter {
  constructor(
    readonly local: MetaPeer,
    readonly client: RaftClient,
  ) {}

  private async remote<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof RaftClientError) throw new KvError(e.code === 'UNAVAILABLE' || e.code === 'TIMEOUT' ? 'NOT_LEADER' : (e.code as KvErrorCode), e.message, { regionId: 0, unknownOutcome: !e.certain });
      throw e;
    }
  }

  propose(cmd: MetaCommand): Promise<MetaOutcome> {
    if (this.local.isLeader()) {
      return this.local.propose(cmd).catch((e) => {
        if (e instanceof KvError && e.code === 'NOT_LEADER' && (e.details as { unknownOutcome?: boolean } | undefined)?.unknownOutcome !== true) {
          return this.remote(() => proposeToCluster(this.client, cmd));
        }
        throw e;
      });
    }
    return this.remote(() => proposeToCluster(this.client, cmd));
  }

  getTs(count: number): Promise<bigint[]> {
    if (this.local.isLeader()) return this.local.getTs(count).catch(() => this.remote(() => getTsFromCluster(this.client, count)));
    return this.remote(() => getTsFromCluster(this.client, count));
  }

  view(): { readonly state: MetaState; readonly engine: StorageEngine } {
    return { state: this.local.state, engine: this.local.placementEngine };
  }
}
