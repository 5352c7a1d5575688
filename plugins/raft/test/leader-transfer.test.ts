// Raft thesis 3.10: leadership transfer with TimeoutNow.
import test from 'ava';
import { testSeed } from '@flashkv/core/testing';
import { SimCluster, fromLatin1 } from '../testing/index.js';
import { mustBecomeLeader, mustRaft, mustTakeMsgs } from './helpers.js';

test('3.10: transfer to an up-to-date voter sends TimeoutNow at once; to a lagging one, it catches up first', (t) => {
  const cases = [{ caughtUp: true }, { caughtUp: false }];
  for (const c of cases) {
    const { raft } = mustRaft(1, { preVote: false });
    mustBecomeLeader(raft);
    if (c.caughtUp) raft.step({ type: 'appResp', from: 2, to: 1, term: raft.term, index: raft.raftLog.lastIndex() });
    else raft.step({ type: 'heartbeatResp', from: 2, to: 1, term: raft.term });
    mustTakeMsgs(raft);
    raft.transferLeader(2);
    const msgs = mustTakeMsgs(raft).filter((m) => m.to === 2);
    t.is(msgs.some((m) => m.type === 'timeoutNow'), c.caughtUp, JSON.stringify(c));
    if (!c.caughtUp) {
      raft.step({ type: 'appResp', from: 2, to: 1, term: raft.term, index: raft.raftLog.lastIndex() });
      t.true(mustTakeMsgs(raft, 'timeoutNow').some((m) => m.to === 2));
    }
  }
});

test('3.10: the target wins at once, even inside other voters\' leader lease, and in a cluster', (t) => {
  const seed = testSeed();
  for (const preVote of [true, false]) {
    const c = new SimCluster({ voters: [1, 2, 3, 4, 5], seed, raft: { preVote, checkQuorum: true } });
    const l = c.electLeader();
    t.true(c.propose(l, fromLatin1('before')).ok);
    c.stabilize();
    const target = c.ids().find((id) => id !== l)!;
    t.is(c.transferLeader(l, target), undefined);
    c.stabilize();
    t.is(c.leader(), target, `preVote=${preVote} SEED=${seed}`);
    t.is(c.raw(target).raft.term, c.raw(l).raft.term);
    t.true(c.propose(target, fromLatin1('after')).ok);
    c.stabilize();
    for (const id of c.ids()) t.deepEqual(c.node(id).sm.values, ['before', 'after']);
  }
});

test('3.10: proposals are refused during a transfer, and a transfer that does not finish in an election timeout is dropped', (t) => {
  const { raft } = mustRaft(1, { preVote: false, electionTick: 10 });
  mustBecomeLeader(raft);
  raft.step({ type: 'heartbeatResp', from: 2, to: 1, term: raft.term });
  raft.step({ type: 'heartbeatResp', from: 3, to: 1, term: raft.term });
  raft.transferLeader(3);
  t.is(raft.leadTransferee, 3);
  t.throws(() => raft.propose(fromLatin1('x')), { code: 'NOT_LEADER' } as never);
  for (let i = 0; i < 10; i++) {
    raft.tick();
    raft.step({ type: 'heartbeatResp', from: 2, to: 1, term: raft.term });
  }
  t.is(raft.leadTransferee, 0);
  t.is(raft.state, 'leader');
  t.notThrows(() => raft.propose(fromLatin1('y')));
});

test('3.10: transfers to a learner or unknown node are refused; a follower forwards a request to its leader', (t) => {
  const { raft } = mustRaft(1, { voters: [1, 2, 3], learners: [4], preVote: false });
  mustBecomeLeader(raft);
  t.throws(() => raft.transferLeader(4), { code: 'INVALID_ARGUMENT' } as never);
  t.throws(() => raft.transferLeader(9), { code: 'INVALID_ARGUMENT' } as never);
  t.throws(() => raft.transferLeader(0), { instanceOf: TypeError });

  const seed = testSeed();
  const c = new SimCluster({ voters: [1, 2, 3], seed });
  const l = c.electLeader();
  const [a, b] = c.ids().filter((id) => id !== l);
  t.is(c.transferLeader(a!, b!), undefined);
  c.stabilize();
  t.is(c.leader(), b, `SEED=${seed}`);
});
