// Raft paper section 7 (log compaction): storage, snapshots for lagging followers, restarts.
import test from 'ava';
import { testSeed } from '@flashkv/core/testing';
import { LogCompactedError, LogUnavailableError, MemoryStorage, RawNode } from '../src/core/index.js';
import { SimCluster, fromLatin1 } from '../testing/index.js';
import { entriesWithTerms, mustRaft, mustTakeMsgs } from './helpers.js';
import { Rng } from '@flashkv/core/testing';

function settle(c: SimCluster, rounds = 40): void {
  for (let i = 0; i < rounds; i++) {
    c.stabilize();
    c.tickAll();
  }
  c.stabilize();
}

test('7: MemoryStorage answers entries/term/first/last and refuses compacted or missing ranges', (t) => {
  const s = new MemoryStorage({ confState: { voters: [1], learners: [] } });
  s.append(entriesWithTerms([1, 1, 2, 3, 3]));
  t.is(s.firstIndex(), 1);
  t.is(s.lastIndex(), 5);
  t.is(s.term(0), 0);
  t.is(s.term(4), 3);
  t.deepEqual(s.entries(2, 5).map((e) => e.index), [2, 3, 4]);
  s.createSnapshot(3, { voters: [1], learners: [] }, fromLatin1('sm@3'));
  s.compact(3);
  t.is(s.firstIndex(), 4);
  t.is(s.term(3), 2, 'the term of the last compacted entry is kept');
  const cases: { run: () => unknown; error: new (...args: never[]) => Error }[] = [
    { run: () => s.term(2), error: LogCompactedError },
    { run: () => s.entries(3, 5), error: LogCompactedError },
    { run: () => s.term(6), error: LogUnavailableError },
    { run: () => s.entries(4, 7), error: LogUnavailableError },
    { run: () => s.compact(9), error: LogUnavailableError },
  ];
  for (const c of cases) t.throws(c.run, { instanceOf: c.error });
  // Appending over the tail truncates it; appending below the first index skips what is compacted.
  s.append(entriesWithTerms([4, 4], 5));
  t.deepEqual(s.entries(4, 7).map((e) => e.term), [3, 4, 4]);
  s.append(entriesWithTerms([2, 2, 5], 2));
  t.deepEqual(s.entries(4, 5).map((e) => e.term), [5]);
  t.is(s.lastIndex(), 4);
  // Size limits keep at least one entry.
  t.is(s.entries(4, 5, 0).length, 1);
  t.is(s.snapshot().metadata.index, 3);
});

test('7: a leader sends a snapshot to a follower whose next entry it has compacted away', (t) => {
  const { raft, storage } = mustRaft(1, { logTerms: [1, 1, 1, 1, 1], term: 1, commit: 5, preVote: false });
  storage.createSnapshot(4, { voters: [1, 2, 3], learners: [] }, fromLatin1('state'));
  storage.compact(4);
  raft.campaign();
  raft.step({ type: 'voteResp', from: 2, to: 1, term: raft.term, reject: false });
  mustTakeMsgs(raft);
  // Follower 3 answers that its log ends at index 1: the leader must snapshot it.
  raft.step({ type: 'appResp', from: 3, to: 1, term: raft.term, index: 5, reject: true, rejectHint: 1, logTerm: 1 });
  const [snap] = mustTakeMsgs(raft, 'snap');
  t.is(snap?.to, 3);
  t.is(snap?.snapshot?.metadata.index, 4);
  t.is(raft.tracker.progress.get(3)!.state, 'snapshot');
  // Nothing more is sent to it until it reports back.
  raft.propose(fromLatin1('x'));
  t.is(mustTakeMsgs(raft, 'app').filter((m) => m.to === 3).length, 0);
  raft.step({ type: 'appResp', from: 3, to: 1, term: raft.term, index: 4 });
  t.is(raft.tracker.progress.get(3)!.state, 'replicate');
  t.true(mustTakeMsgs(raft, 'app').some((m) => m.to === 3));
});

test('7: a failed snapshot send returns the follower to probing after its next heartbeat', (t) => {
  const { raft, storage } = mustRaft(1, { logTerms: [1, 1, 1], term: 1, commit: 3, preVote: false });
  storage.createSnapshot(3, { voters: [1, 2, 3], learners: [] }, fromLatin1('state'));
  storage.compact(3);
  raft.campaign();
  raft.step({ type: 'voteResp', from: 2, to: 1, term: raft.term, reject: false });
  raft.step({ type: 'appResp', from: 3, to: 1, term: raft.term, index: 3, reject: true, rejectHint: 0, logTerm: 0 });
  t.is(raft.tracker.progress.get(3)!.state, 'snapshot');
  raft.reportSnapshot(3, false);
  const pr = raft.tracker.progress.get(3)!;
  t.is(pr.state, 'probe');
  t.true(pr.isPaused());
  mustTakeMsgs(raft);
  raft.step({ type: 'heartbeatResp', from: 3, to: 1, term: raft.term });
  t.is(mustTakeMsgs(raft, 'snap').length, 1, 'retried after the heartbeat response');
});

test('7: a follower ignores a snapshot older than its commit index and fast-forwards one it already holds', (t) => {
  const cases: { snapIndex: number; snapTerm: number; restored: boolean; commit: number }[] = [
    { snapIndex: 2, snapTerm: 1, restored: false, commit: 3 },
    { snapIndex: 4, snapTerm: 1, restored: false, commit: 4 },
    { snapIndex: 4, snapTerm: 2, restored: true, commit: 4 },
    { snapIndex: 9, snapTerm: 2, restored: true, commit: 9 },
  ];
  for (const c of cases) {
    const { raft } = mustRaft(2, { logTerms: [1, 1, 1, 1, 1], term: 2, commit: 3 });
    raft.step({
      type: 'snap',
      from: 1,
      to: 2,
      term: 2,
      snapshot: { metadata: { index: c.snapIndex, term: c.snapTerm, confState: { voters: [1, 2, 3], learners: [] } }, data: new Uint8Array(0) },
    });
    t.is(raft.raftLog.pendingSnapshot !== undefined, c.restored, JSON.stringify(c));
    t.is(raft.raftLog.committed, c.commit, JSON.stringify(c));
  }
});

test('7: a Ready carries a received snapshot; after advance the node is applied up to it', (t) => {
  const storage = new MemoryStorage({ confState: { voters: [1, 2, 3], learners: [] } });
  const node = new RawNode({ id: 2, storage, rng: new Rng(1) });
  node.step({
    type: 'snap',
    from: 1,
    to: 2,
    term: 3,
    snapshot: { metadata: { index: 20, term: 3, confState: { voters: [1, 2, 3], learners: [4] } }, data: fromLatin1('sm') },
  });
  const rd = node.ready();
  t.is(rd.snapshot?.metadata.index, 20);
  t.deepEqual(rd.committedEntries, []);
  t.is(rd.hardState?.commit, 20);
  storage.applySnapshot(rd.snapshot!);
  storage.setHardState(rd.hardState!);
  node.advance(rd);
  t.is(node.status().applied, 20);
  t.deepEqual(node.confState(), { voters: [1, 2, 3], learners: [4] });
  t.false(node.hasReady());
  t.throws(() => node.advance(rd), { message: /not the outstanding one/ });
});

test('7: followers that missed compacted entries, and nodes restarted from snapshots, converge', (t) => {
  const seed = testSeed();
  const c = new SimCluster({ voters: [1, 2, 3, 4, 5], seed, snapshotEvery: 4, compactKeep: 1 });
  const l = c.electLeader();
  const down = c.ids().filter((id) => id !== l).slice(0, 2);
  for (const id of down) c.crash(id);
  for (let i = 0; i < 30; i++) t.true(c.propose(l, fromLatin1(`w${i}`)).ok, `SEED=${seed}`);
  settle(c, 5);
  t.true(c.node(l).storage.firstIndex() > 10, 'the leader compacted past what the crashed nodes hold');
  for (const id of down) c.restart(id);
  settle(c);
  const want = c.node(l).sm.values;
  t.is(want.length, 30);
  for (const id of c.ids()) t.deepEqual(c.node(id).sm.values, want, `node ${id} SEED=${seed}`);
  // Everyone restarts from its own snapshot plus log and rebuilds the same state.
  for (const id of c.ids()) c.crash(id);
  for (const id of c.ids()) c.restart(id);
  const l2 = c.electLeader();
  t.true(c.propose(l2, fromLatin1('after-restart')).ok);
  settle(c);
  for (const id of c.ids()) t.deepEqual(c.node(id).sm.values, [...want, 'after-restart'], `node ${id} SEED=${seed}`);
});
