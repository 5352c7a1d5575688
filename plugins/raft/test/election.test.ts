// Raft paper section 5.2 (leader election), re-expressed as table-driven tests.
import test from 'ava';
import { testSeed } from '@flashkv/core/testing';
import type { StateType } from '../src/core/index.js';
import { SimCluster } from '../testing/index.js';
import { mustRaft, mustTakeMsgs, mustTickUntilCampaign } from './helpers.js';

test('5.2: a cluster of any size elects exactly one leader, in a term above 1', (t) => {
  const seed = testSeed();
  for (const size of [1, 3, 5, 7]) {
    for (const preVote of [true, false]) {
      const voters = Array.from({ length: size }, (_, i) => i + 1);
      const c = new SimCluster({ voters, seed, raft: { preVote } });
      const leader = c.electLeader();
      t.is(c.leaders().length, 1, `size ${size} preVote ${preVote} SEED=${seed}`);
      for (const id of voters) t.is(c.raw(id).raft.lead, leader, `node ${id} follows ${leader} (SEED=${seed})`);
      t.true(c.raw(leader).raft.term >= 2);
    }
  }
});

test('5.2: a candidate wins with a majority of votes, loses once a majority rejects, waits otherwise', (t) => {
  const cases: { voters: number; grants: number[]; rejects: number[]; want: StateType }[] = [
    { voters: 1, grants: [], rejects: [], want: 'leader' },
    { voters: 3, grants: [2], rejects: [], want: 'leader' },
    { voters: 3, grants: [], rejects: [], want: 'candidate' },
    { voters: 3, grants: [], rejects: [2, 3], want: 'follower' },
    { voters: 3, grants: [], rejects: [2], want: 'candidate' },
    { voters: 5, grants: [2], rejects: [], want: 'candidate' },
    { voters: 5, grants: [2, 3], rejects: [], want: 'leader' },
    { voters: 5, grants: [2], rejects: [3, 4], want: 'candidate' },
    { voters: 5, grants: [2], rejects: [3, 4, 5], want: 'follower' },
    { voters: 4, grants: [2], rejects: [], want: 'candidate' },
    { voters: 4, grants: [2, 3], rejects: [], want: 'leader' },
    { voters: 4, grants: [], rejects: [2, 3], want: 'follower' },
  ];
  for (const c of cases) {
    const voters = Array.from({ length: c.voters }, (_, i) => i + 1);
    const { raft } = mustRaft(1, { voters, preVote: false });
    raft.campaign();
    const term = raft.term;
    for (const id of c.grants) raft.step({ type: 'voteResp', from: id, to: 1, term, reject: false });
    for (const id of c.rejects) raft.step({ type: 'voteResp', from: id, to: 1, term, reject: true });
    t.is(raft.state, c.want, JSON.stringify(c));
  }
});

test('5.2: each node votes for at most one candidate per term, first come first served', (t) => {
  const cases: { vote: number; from: number; grant: boolean }[] = [
    { vote: 0, from: 2, grant: true },
    { vote: 2, from: 2, grant: true },
    { vote: 3, from: 2, grant: false },
  ];
  for (const c of cases) {
    const { raft } = mustRaft(1, { term: 5, vote: c.vote, preVote: false, checkQuorum: false });
    raft.step({ type: 'vote', from: c.from, to: 1, term: 5, index: 0, logTerm: 0 });
    const [resp] = mustTakeMsgs(raft, 'voteResp');
    t.is(resp?.reject !== true, c.grant, JSON.stringify(c));
    t.is(raft.vote, c.grant ? c.from : c.vote);
  }
});

test('5.2: a vote request from a higher term moves the voter to that term before it decides', (t) => {
  const { raft } = mustRaft(1, { term: 2, vote: 3, preVote: false, checkQuorum: false });
  raft.step({ type: 'vote', from: 2, to: 1, term: 3, index: 0, logTerm: 0 });
  t.is(raft.term, 3);
  t.is(raft.vote, 2);
  const [resp] = mustTakeMsgs(raft, 'voteResp');
  t.is(resp!.term, 3);
  t.false(resp!.reject === true);
});

test('5.2: a stale-term request is ignored and a stale leader steps down on seeing a higher term', (t) => {
  const { raft } = mustRaft(1, { term: 5, preVote: false, checkQuorum: false });
  raft.step({ type: 'vote', from: 2, to: 1, term: 4, index: 10, logTerm: 4 });
  t.is(mustTakeMsgs(raft).length, 0);
  t.is(raft.vote, 0);

  const { raft: leader } = mustRaft(1, { preVote: false, checkQuorum: false });
  leader.campaign();
  leader.step({ type: 'voteResp', from: 2, to: 1, term: leader.term, reject: false });
  t.is(leader.state, 'leader');
  leader.step({ type: 'app', from: 3, to: 1, term: leader.term + 1, index: 0, logTerm: 0, commit: 0, entries: [] });
  t.is(leader.state, 'follower');
  t.is(leader.lead, 3);
});

test('5.2: election timeouts are randomized in [electionTick, 2*electionTick) and differ between nodes', (t) => {
  const seen = new Set<number>();
  for (let seed = 1; seed <= 30; seed++) {
    const { raft } = mustRaft(1, { seed, electionTick: 10 });
    const ticks = mustTickUntilCampaign(raft);
    t.true(ticks >= 10 && ticks < 20, `seed ${seed}: campaigned after ${ticks} ticks`);
    seen.add(ticks);
  }
  t.true(seen.size >= 4, `timeouts spread over ${seen.size} values`);
});

test('5.2: a follower that keeps hearing from its leader never campaigns', (t) => {
  const { raft } = mustRaft(2, { term: 1 });
  for (let i = 0; i < 100; i++) {
    raft.tick();
    raft.step({ type: 'heartbeat', from: 1, to: 2, term: 1, commit: 0 });
  }
  t.is(raft.state, 'follower');
  t.is(raft.term, 1);
  t.is(mustTakeMsgs(raft, 'vote', 'preVote').length, 0);
});

test('5.2: a candidate that hears from a leader of its own term becomes its follower', (t) => {
  const { raft } = mustRaft(1, { preVote: false });
  raft.campaign();
  const term = raft.term;
  raft.step({ type: 'app', from: 2, to: 1, term, index: 0, logTerm: 0, commit: 0, entries: [] });
  t.is(raft.state, 'follower');
  t.is(raft.lead, 2);
  t.is(raft.term, term);
});

test('5.2: split votes resolve: an election round without a winner is retried until one wins', (t) => {
  const seed = testSeed();
  const c = new SimCluster({ voters: [1, 2, 3, 4], seed, raft: { preVote: false } });
  // Two candidates at once in a 4-node cluster can split 2-2.
  c.campaign(1);
  c.campaign(2);
  const leader = c.electLeader();
  t.is(c.leaders().length, 1, `SEED=${seed}`);
  t.true([1, 2, 3, 4].includes(leader));
});
