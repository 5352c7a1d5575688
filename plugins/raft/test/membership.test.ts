// Raft paper section 6 / thesis chapter 4: single-server membership changes and learners.
// Joint consensus is not implemented: one voter or learner is added or removed at a time.
import test from 'ava';
import { testSeed } from '@flashkv/core/testing';
import { decodeConfChange, encodeConfChange, type ConfChange } from '../src/core/index.js';
import { SimCluster, fromLatin1 } from '../testing/index.js';
import { mustBecomeLeader, mustRaft } from './helpers.js';

function settle(c: SimCluster, rounds = 60): void {
  for (let i = 0; i < rounds; i++) {
    c.stabilize();
    c.tickAll();
  }
  c.stabilize();
}

test('6: conf changes round-trip through their entry encoding and reject bad bytes', (t) => {
  const cases: ConfChange[] = [
    { type: 'addNode', nodeId: 1 },
    { type: 'addLearner', nodeId: 2 ** 40 + 7 },
    { type: 'removeNode', nodeId: Number.MAX_SAFE_INTEGER },
  ];
  for (const cc of cases) t.deepEqual(decodeConfChange(encodeConfChange(cc)), cc);
  t.throws(() => decodeConfChange(new Uint8Array([1, 9, 0, 0, 0, 0, 0, 0, 0, 1])), { code: 'CORRUPTED' } as never);
  t.throws(() => decodeConfChange(new Uint8Array([1, 1])), { code: 'CORRUPTED' } as never);
  t.throws(() => encodeConfChange({ type: 'addNode', nodeId: 0 }), { instanceOf: TypeError });
});

test('6: a learner catches up and receives the log but never votes towards a quorum, then is promoted', (t) => {
  const seed = testSeed();
  const c = new SimCluster({ voters: [1, 2, 3], seed });
  const l = c.electLeader();
  t.true(c.propose(l, fromLatin1('before')).ok);
  c.stabilize();
  c.addNode(4);
  t.true(c.proposeConfChange(l, { type: 'addLearner', nodeId: 4 }).ok);
  settle(c);
  t.deepEqual(c.raw(l).confState(), { voters: [1, 2, 3], learners: [4] });
  t.deepEqual(c.node(4).sm.values, ['before'], `SEED=${seed}`);
  t.deepEqual(c.raw(4).confState(), { voters: [1, 2, 3], learners: [4] });
  // A learner never campaigns, however long it waits.
  c.partition([[4], [1, 2, 3]]);
  settle(c, 50);
  t.is(c.raw(4).raft.state, 'follower');
  c.heal();
  // With two voters down, the learner's copy must not make anything commit.
  const others = [1, 2, 3].filter((id) => id !== l);
  c.partition([[l, 4], others]);
  const { index } = c.raw(l).propose(fromLatin1('needs-a-voter'));
  c.stabilize();
  t.true(c.raw(4).raft.raftLog.lastIndex() >= index);
  t.true(c.raw(l).raft.raftLog.committed < index, 'a learner does not count towards commit');
  c.heal();
  settle(c);
  const l2 = c.electLeader();
  t.true(c.proposeConfChange(l2, { type: 'addNode', nodeId: 4 }).ok);
  settle(c);
  t.deepEqual(c.raw(l2).confState(), { voters: [1, 2, 3, 4], learners: [] });
});

test('6: only one membership change at a time, and not before the leader commits an entry of its term', (t) => {
  const { raft } = mustRaft(1, { voters: [1, 2, 3], preVote: false });
  mustBecomeLeader(raft);
  // The leader's own first entry is not applied yet (Ongaro's single-server change fix).
  t.throws(() => raft.proposeConfChange({ type: 'addLearner', nodeId: 4 }), { code: 'SERVER_BUSY' } as never);
  const noop = raft.raftLog.lastIndex();
  raft.step({ type: 'appResp', from: 2, to: 1, term: raft.term, index: noop });
  raft.raftLog.appliedTo(noop);
  raft.proposeConfChange({ type: 'addLearner', nodeId: 4 });
  t.throws(() => raft.proposeConfChange({ type: 'addNode', nodeId: 5 }), { code: 'SERVER_BUSY' } as never);
});

test('6: invalid membership changes are refused with INVALID_ARGUMENT; followers say NOT_LEADER', (t) => {
  const cases: { cc: ConfChange; code: string }[] = [
    { cc: { type: 'addNode', nodeId: 2 }, code: 'INVALID_ARGUMENT' },
    { cc: { type: 'addLearner', nodeId: 3 }, code: 'INVALID_ARGUMENT' },
    { cc: { type: 'removeNode', nodeId: 9 }, code: 'INVALID_ARGUMENT' },
  ];
  for (const c of cases) {
    const { raft } = mustRaft(1, { voters: [1, 2, 3], preVote: false });
    mustBecomeLeader(raft);
    raft.step({ type: 'appResp', from: 2, to: 1, term: raft.term, index: raft.raftLog.lastIndex() });
    raft.raftLog.appliedTo(raft.raftLog.committed);
    t.throws(() => raft.proposeConfChange(c.cc), { code: c.code } as never, JSON.stringify(c));
  }
  const { raft: single } = mustRaft(1, { voters: [1], preVote: false });
  mustBecomeLeader(single);
  single.raftLog.appliedTo(single.raftLog.committed);
  t.throws(() => single.proposeConfChange({ type: 'removeNode', nodeId: 1 }), { code: 'INVALID_ARGUMENT' } as never);
  const { raft: follower } = mustRaft(2);
  t.throws(() => follower.proposeConfChange({ type: 'addNode', nodeId: 4 }), { code: 'NOT_LEADER' } as never);
});

test('6: removing a follower shrinks the quorum; removing the leader makes it step down and the rest elect', (t) => {
  const seed = testSeed();
  const c = new SimCluster({ voters: [1, 2, 3, 4, 5], seed });
  let l = c.electLeader();
  const victim = c.ids().find((id) => id !== l)!;
  t.true(c.proposeConfChange(l, { type: 'removeNode', nodeId: victim }).ok);
  settle(c);
  t.false(c.raw(l).confState().voters.includes(victim));
  // The removed node never campaigns again.
  c.partition([[victim], c.ids().filter((id) => id !== victim)]);
  settle(c, 60);
  t.not(c.raw(victim).raft.state, 'candidate');
  t.not(c.raw(victim).raft.state, 'preCandidate');
  c.heal();
  // Four voters left: two more down still leaves no quorum of 3, so crash only one.
  l = c.electLeader();
  t.true(c.proposeConfChange(l, { type: 'removeNode', nodeId: l }).ok);
  settle(c);
  t.not(c.raw(l).raft.state, 'leader');
  const next = c.electLeader();
  t.not(next, l, `SEED=${seed}`);
  t.deepEqual(c.raw(next).confState().voters.length, 3);
  t.true(c.propose(next, fromLatin1('after')).ok);
  settle(c);
  for (const id of c.raw(next).confState().voters) t.true(c.node(id).sm.values.includes('after'), `node ${id} SEED=${seed}`);
});

test('6: a new node added after compaction catches up through a snapshot and then votes', (t) => {
  const seed = testSeed();
  const c = new SimCluster({ voters: [1, 2, 3], seed, snapshotEvery: 5 });
  const l = c.electLeader();
  for (let i = 0; i < 12; i++) t.true(c.propose(l, fromLatin1(`v${i}`)).ok);
  c.stabilize();
  t.true(c.node(l).storage.firstIndex() > 1, 'the leader compacted its log');
  c.addNode(4);
  t.true(c.proposeConfChange(l, { type: 'addNode', nodeId: 4 }).ok);
  settle(c);
  t.deepEqual(c.node(4).sm.values, c.node(l).sm.values, `SEED=${seed}`);
  t.deepEqual(c.raw(4).confState().voters, [1, 2, 3, 4]);
  // With 4 voters, quorum is 3: the new node's vote now matters.
  const others = [1, 2, 3].filter((id) => id !== l);
  c.crash(others[0]!);
  t.true(c.propose(c.electLeader(), fromLatin1('with-4')).ok);
  settle(c);
  t.true(c.node(4).sm.values.includes('with-4'));
});
