// Long seeded chaos runs: 5 nodes (and 3), thousands of steps with drops, duplicates, delays,
// reordering, partitions, crashes (some right after persisting), restarts, reads, transfers and
// membership changes, with every safety invariant checked after every step and liveness checked
// at the end. A failure names its seed: `SEED=n npx ava plugins/raft/dist/test/chaos.test.js`
// replays it (all configurations run with that seed).
import test from 'ava';
import { testSeed } from '@flashkv/core/testing';
import { runChaos, type ChaosOptions, type ChaosStats } from '../testing/index.js';

const configs: { name: string; options: Omit<ChaosOptions, 'seed' | 'steps'> }[] = [
  { name: 'defaults (pre-vote, check-quorum, safe reads)', options: {} },
  { name: 'membership changes', options: { membership: true } },
  { name: 'no pre-vote, no check-quorum', options: { raft: { preVote: false, checkQuorum: false }, membership: true } },
  { name: 'lease reads', options: { raft: { readOnlyOption: 'leaseBased' } } },
  { name: '3 nodes, very lossy network', options: { nodes: 3, network: { dropRate: 0.2, duplicateRate: 0.1, maxDelay: 6 } } },
  { name: 'tiny windows and big snapshots gaps', options: { raft: { maxInflightMsgs: 1, maxSizePerMsg: 1 }, snapshotEvery: 5, compactKeep: 0 } },
];

const env = process.env['SEED'];
const seeds = env !== undefined && env.trim() !== '' ? [testSeed()] : [1, 2, testSeed()];
const STEPS = 6000;

for (const cfg of configs) {
  test(`chaos: ${cfg.name}`, (t) => {
    const all: ChaosStats[] = [];
    for (const seed of seeds) {
      t.log(`SEED=${seed}`);
      const stats = runChaos({ seed, steps: STEPS, ...cfg.options });
      all.push(stats);
      // The run did real work: leaders came and went, entries committed.
      t.true(stats.highestCommit > 10, `SEED=${seed}: highest commit ${stats.highestCommit}`);
      t.true(stats.leaderTerms >= 2, `SEED=${seed}: ${stats.leaderTerms} leader terms`);
    }
    const sum = (k: keyof ChaosStats): number => all.reduce((s, x) => s + (x[k] as number), 0);
    t.true(sum('highestCommit') > 20 * all.length, `commits: ${all.map((x) => x.highestCommit).join(', ')}`);
    t.true(sum('crashes') > 0 && sum('restarts') > 0, 'crashes happened');
    t.true(sum('partitions') > 0, 'partitions happened');
    t.true(sum('snapshotsSent') > 0, 'some follower needed a snapshot');
    t.true(sum('readsAnswered') > 0, 'some reads were answered');
    if (cfg.options.membership === true) t.true(sum('confChanges') > 0, 'membership changed');
  });
}
