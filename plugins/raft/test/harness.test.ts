// The simulation harness itself: its invariant checks must fire on real violations, its network
// must do what it says, and a seed must replay a run exactly.
import test from 'ava';
import { Rng, testSeed } from '@flashkv/core/testing';
import { InvariantViolation, SimCluster, SimNetwork, fromLatin1, runChaos } from '../testing/index.js';

function mustViolate(t: import('ava').ExecutionContext, invariant: string, fn: () => void): void {
  const err = t.throws(fn, { instanceOf: InvariantViolation });
  t.is(err?.invariant, invariant);
  t.regex(err?.message ?? '', /SEED=\d+/);
  t.regex(err?.message ?? '', /at step \d+/);
}

function settled(seed = 11): { c: SimCluster; l: number } {
  const c = new SimCluster({ voters: [1, 2, 3], seed });
  const l = c.electLeader();
  t_propose(c, l, 'a');
  return { c, l };
}

function t_propose(c: SimCluster, l: number, v: string): void {
  if (!c.propose(l, fromLatin1(v)).ok) throw new Error('proposal refused');
  c.stabilize();
}

test('the checker catches two leaders in one term', (t) => {
  const { c, l } = settled();
  const other = c.ids().find((id) => id !== l)!;
  c.raw(other).raft.state = 'leader';
  mustViolate(t, 'election safety', () => c.heal());
});

test('the checker catches logs that disagree at an (index, term)', (t) => {
  const { c, l } = settled();
  const other = c.ids().find((id) => id !== l)!;
  const log = c.raw(other).raft.raftLog;
  const last = log.lastIndex();
  log.append([{ index: last + 1, term: c.raw(l).raft.term, type: 'normal', data: fromLatin1('forged') }]);
  c.raw(l).propose(fromLatin1('real'));
  mustViolate(t, 'log matching', () => c.heal());
});

test('the checker catches a committed entry that changes, and a commit index that goes back', (t) => {
  const { c, l } = settled();
  const other = c.ids().find((id) => id !== l)!;
  c.raw(other).raft.raftLog.committed -= 1;
  mustViolate(t, 'commit never regresses', () => c.heal());

  const again = settled(12);
  const log = again.c.raw(again.l).raft.raftLog;
  const last = log.lastIndex();
  // Rewrite the leader's committed tail with a different term.
  log.unstable = [{ ...log.allEntries().at(-1)!, term: 99 }];
  log.unstableOffset = last;
  mustViolate(t, 'committed entries never change', () => again.c.heal());
});

test('the checker catches diverging state machines and stale read indexes', (t) => {
  const { c } = settled();
  mustViolate(t, 'state machine safety', () => c.checker.onApply(1, 4, 12345));
  c.checker.onReadRequest(fromLatin1('q'));
  mustViolate(t, 'linearizable read index', () => c.checker.onReadState(1, 1, fromLatin1('q')));
});

test('the checker catches a leader missing committed entries', (t) => {
  const { c, l } = settled();
  const other = c.ids().find((id) => id !== l)!;
  const r = c.raw(other).raft;
  // A node with an empty log claims leadership in a later term.
  c.crash(l);
  r.raftLog.unstable = [];
  r.raftLog.unstableOffset = 1;
  r.raftLog.committed = 0;
  r.raftLog.applied = 0;
  r.term += 5;
  r.state = 'leader';
  c.checker.onRestart(other);
  const err = t.throws(() => c.heal(), { instanceOf: InvariantViolation });
  t.true(['leader completeness', 'commit never regresses', 'log matching'].includes(err!.invariant), err!.message);
});

test('SimNetwork: drops, duplicates and delays at the configured rates; partitions cut links both ways', (t) => {
  const seed = testSeed();
  const net = new SimNetwork(new Rng(seed), { dropRate: 0.2, duplicateRate: 0.1, maxDelay: 3 });
  for (let i = 0; i < 2000; i++) net.send({ type: 'heartbeat', from: 1, to: 2, term: 1 }, 0);
  t.true(net.dropped > 300 && net.dropped < 500, `dropped ${net.dropped} of 2000 (SEED=${seed})`);
  t.true(net.duplicated > 100 && net.duplicated < 260, `duplicated ${net.duplicated} (SEED=${seed})`);
  t.is(net.pending(), 2000 - net.dropped + net.duplicated);
  const now0 = net.deliverable(0).length;
  t.true(now0 > 0 && now0 < net.pending(), 'some copies are delayed');
  t.is(net.deliverable(3).length, net.pending(), 'none beyond maxDelay');
  net.partition([[1], [2, 3]]);
  t.true(net.isBlocked(1, 2) && net.isBlocked(3, 1));
  t.false(net.isBlocked(2, 3));
  net.heal();
  t.false(net.isBlocked(1, 2));
});

test('a crash loses what was not persisted; restart rebuilds from storage', (t) => {
  const seed = testSeed();
  const c = new SimCluster({ voters: [1, 2, 3], seed });
  const l = c.electLeader();
  const before = c.raw(l).raft.raftLog.lastIndex();
  c.raw(l).propose(fromLatin1('unsynced'));
  t.is(c.raw(l).raft.raftLog.lastIndex(), before + 1);
  c.crash(l);
  c.restart(l);
  t.is(c.raw(l).raft.raftLog.lastIndex(), before, 'the unpersisted entry is gone');
  t.is(c.raw(l).raft.state, 'follower');
  // Persisted-but-unsent: crashing right after persisting keeps the entry, sends nothing.
  const l2 = c.electLeader();
  c.raw(l2).propose(fromLatin1('synced'));
  const last = c.raw(l2).raft.raftLog.lastIndex();
  c.handleReady(l2, true);
  t.false(c.node(l2).alive);
  c.restart(l2);
  t.is(c.raw(l2).raft.raftLog.lastIndex(), last);
  t.is(c.raw(l2).raft.raftLog.term(last), c.raw(l2).raft.term);
});

test('the same seed replays the same chaos run exactly', (t) => {
  const seed = testSeed();
  const a = runChaos({ seed, steps: 1500, nodes: 5 });
  const b = runChaos({ seed, steps: 1500, nodes: 5 });
  t.deepEqual(a, b, `SEED=${seed}`);
});
