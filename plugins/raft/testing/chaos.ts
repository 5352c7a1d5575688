import { Rng } from '@flashkv/core/testing';
import { SimCluster, type NodeOptions } from './cluster.js';
import { fromLatin1 } from './format.js';
import type { NetworkOptions } from './sim-network.js';

export interface ChaosOptions {
  readonly seed: number;
  /** Voters 1..nodes. Default 5. */
  readonly nodes?: number;
  readonly steps: number;
  readonly raft?: NodeOptions;
  /** Default: 5% drops, 3% duplicates, up to 3 ticks of delay. */
  readonly network?: NetworkOptions;
  /** Default 25 / 5: nodes snapshot and compact often, so lagging followers need snapshots. */
  readonly snapshotEvery?: number;
  readonly compactKeep?: number;
  /** Fault switches, all on by default. */
  readonly crashes?: boolean;
  readonly partitions?: boolean;
  readonly reads?: boolean;
  readonly transfers?: boolean;
  /** Add learners, promote them, remove voters (single-server changes). Off by default. */
  readonly membership?: boolean;
}

export interface ChaosStats {
  steps: number;
  ticks: number;
  /** Distinct (term, leader) pairs seen. */
  leaderTerms: number;
  proposals: number;
  accepted: number;
  highestCommit: number;
  crashes: number;
  restarts: number;
  partitions: number;
  readsAsked: number;
  readsAnswered: number;
  transfers: number;
  confChanges: number;
  snapshotsSent: number;
  /** Voters at the end. */
  voters: number[];
}

/**
 * A long seeded run: every step is one random event (deliver a random deliverable message, let a
 * node handle its Ready, tick, propose, or a fault), with the SafetyChecker run after each. Then
 * the faults stop, and the cluster must elect a leader and apply a final proposal on every member
 * (liveness once the network is good again). Any failure names the seed; `SEED=n` replays it.
 */
export function runChaos(options: ChaosOptions): ChaosStats {
  const n = options.nodes ?? 5;
  const voters = Array.from({ length: n }, (_, i) => i + 1);
  const rng = new Rng(options.seed ^ 0x5eed);
  const cluster = new SimCluster({
    voters,
    seed: options.seed,
    raft: { electionTick: 10, heartbeatTick: 2, maxInflightMsgs: 4, maxSizePerMsg: 64, ...options.raft },
    network: options.network ?? { dropRate: 0.05, duplicateRate: 0.03, maxDelay: 3 },
    snapshotEvery: options.snapshotEvery ?? 25,
    compactKeep: options.compactKeep ?? 5,
  });
  const stats: ChaosStats = {
    steps: 0,
    ticks: 0,
    leaderTerms: 0,
    proposals: 0,
    accepted: 0,
    highestCommit: 0,
    crashes: 0,
    restarts: 0,
    partitions: 0,
    readsAsked: 0,
    readsAnswered: 0,
    transfers: 0,
    confChanges: 0,
    snapshotsSent: 0,
    voters: [],
  };
  const leaderTerms = new Set<string>();
  const crashes = options.crashes ?? true;
  const partitions = options.partitions ?? true;
  const reads = options.reads ?? true;
  const transfers = options.transfers ?? true;
  const membership = options.membership ?? false;
  let nextNodeId = n + 1;
  let proposalSeq = 0;
  let readSeq = 0;
  // Keep a majority of the original voters alive so the run makes progress between faults.
  const maxDown = Math.floor((n - 1) / 2);

  const noteLeaders = (): void => {
    for (const id of cluster.leaders()) leaderTerms.add(`${cluster.raw(id).raft.term}:${id}`);
  };

  try {
    for (let step = 0; step < options.steps; step++) {
      stats.steps++;
      const roll = rng.int(1000);
      const deliverable = cluster.deliverable();
      const ready = cluster.liveIds().filter((id) => cluster.hasReady(id));
      if (roll < 550 && deliverable.length > 0) {
        const env = rng.pick(deliverable);
        if (env.msg.type === 'snap') stats.snapshotsSent++;
        cluster.deliver(env);
      } else if (roll < 860 && ready.length > 0) {
        const id = rng.pick(ready);
        // Now and then a node dies after persisting but before sending or applying.
        cluster.handleReady(id, crashes && rng.chance(0.003) && downCount(cluster) < maxDown);
        if (!cluster.node(id).alive) stats.crashes++;
      } else if (roll < 910) {
        cluster.tickAll();
        stats.ticks++;
      } else if (roll < 960) {
        const target = cluster.leader() !== undefined && rng.chance(0.8) ? cluster.leader()! : rng.pick(cluster.liveIds());
        stats.proposals++;
        const r = cluster.propose(target, fromLatin1(`v${options.seed}.${proposalSeq++}`));
        if (r.ok) stats.accepted++;
      } else if (roll < 975 && reads) {
        const id = rng.pick(cluster.liveIds());
        stats.readsAsked++;
        cluster.readIndex(id, fromLatin1(`r${readSeq++}`));
      } else if (roll < 978 && transfers) {
        const l = cluster.leader();
        if (l !== undefined) {
          const voters = cluster.raw(l).raft.tracker.confState().voters.filter((v) => v !== l);
          if (voters.length > 0) {
            stats.transfers++;
            cluster.transferLeader(l, rng.pick(voters));
          }
        }
      } else if (roll < 988 && membership) {
        if (changeMembership(cluster, rng, () => nextNodeId++)) stats.confChanges++;
      } else if (roll < 995 && partitions) {
        if (cluster.network.isPartitioned() && rng.chance(0.6)) cluster.heal();
        else {
          const ids = rng.shuffle(cluster.ids());
          const cut = 1 + rng.int(Math.max(1, Math.floor(ids.length / 2)));
          cluster.partition([ids.slice(0, cut), ids.slice(cut)]);
          stats.partitions++;
        }
      } else if (crashes) {
        const down = cluster.ids().filter((id) => !cluster.node(id).alive);
        if (down.length > 0 && (rng.chance(0.6) || down.length >= maxDown)) {
          cluster.restart(rng.pick(down));
          stats.restarts++;
        } else if (down.length < maxDown) {
          cluster.crash(rng.pick(cluster.liveIds()));
          stats.crashes++;
        }
      } else {
        cluster.tickAll();
        stats.ticks++;
      }
      noteLeaders();
    }

    // Faults stop: heal, restart everyone, and require progress.
    cluster.heal();
    for (const id of cluster.ids()) {
      if (!cluster.node(id).alive) {
        cluster.restart(id);
        stats.restarts++;
      }
    }
    const finalValue = `final.${options.seed}`;
    let done = false;
    for (let t = 0; t < 2000 && !done; t++) {
      const l = cluster.electLeader(400);
      noteLeaders();
      const r = cluster.propose(l, fromLatin1(finalValue));
      stats.proposals++;
      if (r.ok) stats.accepted++;
      for (let k = 0; k < 60 && !done; k++) {
        cluster.stabilize();
        const members = cluster.raw(l).raft.tracker.members();
        done = members.every((id) => cluster.node(id).sm.values.includes(finalValue));
        if (!done) cluster.tickAll();
      }
    }
    if (!done) throw new Error(`liveness: the final proposal was not applied on every member after the faults stopped (SEED=${options.seed})`);
    stats.highestCommit = cluster.checker.highestCommit();
    stats.leaderTerms = leaderTerms.size;
    stats.readsAnswered = cluster.ids().reduce((sum, id) => sum + cluster.node(id).reads.length, 0);
    stats.voters = cluster.raw(cluster.leader()!).raft.tracker.confState().voters.slice();
    return stats;
  } catch (e) {
    if (e instanceof Error && !e.message.includes('SEED=')) {
      e.message = `${e.message} (at step ${cluster.checker.step}, replay with SEED=${options.seed})`;
    }
    throw e;
  }
}

function downCount(cluster: SimCluster): number {
  return cluster.ids().filter((id) => !cluster.node(id).alive).length;
}

/** One single-server change from the current leader: add a learner, promote it, or remove a voter. */
function changeMembership(cluster: SimCluster, rng: Rng, newId: () => number): boolean {
  const l = cluster.leader();
  if (l === undefined) return false;
  const cs = cluster.raw(l).raft.tracker.confState();
  let r;
  if (cs.learners.length > 0) {
    r = cluster.proposeConfChange(l, { type: 'addNode', nodeId: rng.pick(cs.learners) });
  } else if (cs.voters.length <= 4) {
    const id = newId();
    cluster.addNode(id);
    r = cluster.proposeConfChange(l, { type: 'addLearner', nodeId: id });
  } else {
    r = cluster.proposeConfChange(l, { type: 'removeNode', nodeId: rng.pick(cs.voters) });
  }
  return r.ok;
}
