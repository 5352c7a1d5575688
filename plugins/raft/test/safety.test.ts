// Raft paper section 5.4 (safety): the election restriction and the commit rule.
import test from 'ava';
import { testSeed } from '@flashkv/core/testing';
import { SimCluster, fromLatin1 } from '../testing/index.js';
import { mustBecomeLeader, mustRaft, mustTakeMsgs } from './helpers.js';

test('5.4.1: a voter grants its vote only to a candidate whose log is at least as up to date', (t) => {
  // Voter log terms [1, 1, 2]: last index 3, last term 2.
  const cases: { lastIndex: number; lastTerm: number; grant: boolean }[] = [
    { lastIndex: 3, lastTerm: 2, grant: true },
    { lastIndex: 4, lastTerm: 2, grant: true },
    { lastIndex: 1, lastTerm: 3, grant: true },
    { lastIndex: 2, lastTerm: 2, grant: false },
    { lastIndex: 5, lastTerm: 1, grant: false },
    { lastIndex: 0, lastTerm: 0, grant: false },
  ];
  for (const preVote of [false, true]) {
    for (const c of cases) {
      const { raft } = mustRaft(1, { logTerms: [1, 1, 2], term: 2, preVote, checkQuorum: false });
      raft.step({ type: preVote ? 'preVote' : 'vote', from: 2, to: 1, term: 3, index: c.lastIndex, logTerm: c.lastTerm });
      const [resp] = mustTakeMsgs(raft, 'voteResp', 'preVoteResp');
      t.is(resp!.reject !== true, c.grant, `preVote=${preVote} ${JSON.stringify(c)}`);
    }
  }
});

test('5.4.2 (figure 8): a leader never commits an entry of an earlier term by counting replicas', (t) => {
  // Node 1 holds an uncommitted term-2 entry at index 2 and is elected in term 4.
  const { raft } = mustRaft(1, { logTerms: [1, 2], term: 3, preVote: false, voters: [1, 2, 3, 4, 5] });
  mustBecomeLeader(raft);
  t.is(raft.term, 4);
  const noop = raft.raftLog.lastIndex();
  t.is(noop, 3);
  // A majority now holds index 2, but its term is 2: not committed.
  for (const id of [2, 3]) raft.step({ type: 'appResp', from: id, to: 1, term: 4, index: 2 });
  t.is(raft.raftLog.committed, 0);
  // Once the term-4 entry is on a majority, it and everything before it commit.
  for (const id of [2, 3]) raft.step({ type: 'appResp', from: id, to: 1, term: 4, index: noop });
  t.is(raft.raftLog.committed, noop);
});

test('5.4.3: entries committed under one leader are in every later leader\'s log and state machine', (t) => {
  const seed = testSeed();
  for (const size of [3, 5]) {
    const voters = Array.from({ length: size }, (_, i) => i + 1);
    const c = new SimCluster({ voters, seed });
    const values: string[] = [];
    for (let round = 0; round < size; round++) {
      const l = c.electLeader();
      const v = `r${round}`;
      t.true(c.propose(l, fromLatin1(v)).ok);
      values.push(v);
      c.stabilize();
      // Kill the leader; the survivors elect another, which must carry every committed value.
      c.crash(l);
      const next = c.electLeader();
      t.not(next, l);
      c.stabilize();
      t.deepEqual(c.node(next).sm.values.slice(0, values.length), values, `size ${size} round ${round} SEED=${seed}`);
      c.restart(l);
    }
  }
});

test('5.4: a node whose log lacks committed entries cannot become leader', (t) => {
  const seed = testSeed();
  const c = new SimCluster({ voters: [1, 2, 3], seed, raft: { preVote: false, checkQuorum: false } });
  const l = c.electLeader();
  const lagging = c.ids().find((id) => id !== l)!;
  // Cut the lagging node off, commit on the other two, then bring it back and make it campaign.
  c.partition([[lagging], c.ids().filter((id) => id !== lagging)]);
  t.true(c.propose(l, fromLatin1('x')).ok);
  c.stabilize();
  t.true(c.raw(l).raft.raftLog.committed >= c.raw(l).raft.raftLog.lastIndex());
  c.heal();
  c.campaign(lagging);
  c.stabilize();
  t.not(c.raw(lagging).raft.state, 'leader', `SEED=${seed}`);
  const leader = c.electLeader();
  t.not(leader, lagging);
});
