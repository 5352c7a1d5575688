// A kernel over three in-process raft stores on engine-memory, as the integration tests over raft
// start it: Storage, TxnClient and CDC (ticked by the test) on top, and whatever plugins a test adds.
import { Subject } from 'rxjs';
import { CONSENSUS, ENGINE, EVENTS, Kernel, KvError, PLACEMENT, definePlugin, localPlacement, storage, txnClient, type Plugin } from '@flashkv/core';
import { latin1 } from '@flashkv/core/testing';
import { MemoryEngine } from '@flashkv/engine-memory';
import { cdc } from '@flashkv/cdc';
import { RaftCluster, intervalTickSource, type MetaPlacementOptions } from '@flashkv/raft';

export interface RaftKernelOptions {
  /** Seeds the cluster's election jitter. */
  readonly seed: number;
  /**
   * Placement on the raft meta group (the cluster provides PLACEMENT); without it, local placement
   * on store 1's engine, as `flashkv serve --cluster 3` runs.
   */
  readonly metaPlacement?: MetaPlacementOptions;
  /** Plugins started after CDC (e.g. the flashback orchestrator), given the cluster and CDC ticks. */
  readonly plugins?: (env: { readonly cluster: () => RaftCluster; readonly ticks: Subject<void> }) => Plugin[];
}

export interface RaftKernel {
  readonly kernel: Kernel;
  /** The cluster under the kernel (for moving leaders, stopping stores). */
  readonly cluster: () => RaftCluster;
  /** CDC's ticker: one `next()` is one CDC tick. */
  readonly ticks: Subject<void>;
  /** Stops the kernel and lets the process exit. */
  readonly stop: () => Promise<void>;
}

export async function startRaftKernel(options: RaftKernelOptions): Promise<RaftKernel> {
  const { seed, metaPlacement } = options;
  const engines = [new MemoryEngine(), new MemoryEngine(), new MemoryEngine()];
  const ticks = new Subject<void>();
  let cluster: RaftCluster | undefined;
  const raftPlugin =
    metaPlacement === undefined
      ? definePlugin({
          name: 'raft-under-test',
          version: '1.0.0',
          requires: [ENGINE, PLACEMENT, EVENTS],
          provides: [CONSENSUS],
          async register(ctx) {
            const placement = ctx.resolve(PLACEMENT);
            cluster = await RaftCluster.start({
              engines,
              allocId: () => placement.allocId(),
              directory: placement,
              events: ctx.resolve(EVENTS),
              tickSource: intervalTickSource(2),
              seed,
              raft: { electionTick: 10, heartbeatTick: 2 },
            });
            ctx.provide(CONSENSUS, cluster.consensus);
          },
          async stop() {
            await cluster?.stop();
          },
        })
      : definePlugin({
          name: 'raft-with-meta',
          version: '1.0.0',
          requires: [ENGINE, EVENTS],
          provides: [CONSENSUS, PLACEMENT],
          async register(ctx) {
            cluster = await RaftCluster.start({
              engines,
              events: ctx.resolve(EVENTS),
              tickSource: intervalTickSource(2),
              seed,
              raft: { electionTick: 10, heartbeatTick: 2 },
              metaPlacement,
            });
            ctx.provide(CONSENSUS, cluster.consensus);
            ctx.provide(PLACEMENT, cluster.placement!);
          },
          async stop() {
            await cluster?.stop();
          },
        });
  const env = { cluster: () => cluster!, ticks };
  const kernel = await Kernel.start({
    plugins: [
      definePlugin({ name: 'mem', version: '1.0.0', provides: [ENGINE], register: (ctx) => ctx.provide(ENGINE, engines[0]!) }),
      ...(metaPlacement === undefined ? [localPlacement()] : []),
      raftPlugin,
      storage(),
      txnClient(),
      cdc({ ticker: ticks, schedule: (run) => run() }),
      ...(options.plugins?.(env) ?? []),
    ],
  });
  // The raft ticker's timer does not hold the process open; this one does while the kernel runs.
  const alive = setInterval(() => undefined, 1000);
  return {
    kernel,
    ...env,
    stop: async () => {
      clearInterval(alive);
      await kernel.stop();
    },
  };
}

/** The flashback orchestrator's sleep while it waits for min resolved ts: one CDC tick, then 1 ms. */
export function cdcTickSleep(ticks: Subject<void>): () => Promise<void> {
  return async () => {
    ticks.next();
    await new Promise<void>((r) => setTimeout(r, 1));
  };
}

/** A snapshot scan at `ts` as latin1 key → value; a secondary lock of a committed txn (committed asynchronously) is waited out. */
export async function readAt(kernel: Kernel, ts: bigint): Promise<Record<string, string>> {
  for (let attempt = 0; ; attempt++) {
    try {
      const out: Record<string, string> = {};
      for (const kv of await kernel.storage.scan({ ts })) out[latin1(kv.key)] = latin1(kv.value);
      return out;
    } catch (e) {
      if (!(e instanceof KvError && e.code === 'KEY_IS_LOCKED') || attempt > 200) throw e;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}
