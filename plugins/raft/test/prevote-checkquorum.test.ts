// Raft thesis 9.6 (pre-vote) and 6.2 / 4.2.3 (check-quorum, ignoring disruptive candidates).
import test from 'ava';
import { testSeed } from '@flashkv/core/testing';
import { SimCluster, fromLatin1 } from '../testing/index.js';
import { mustBecomeLeader, mustRaft, mustTakeMsgs } from './helpers.js';

function runTicks(c: SimCluster, ticks: number): void {
  for (let i = 0; i < ticks; i++) {
    c.stabilize();
    c.tickAll();
  }
  c.stabilize();
}

test('9.6: an isolated node bumps its term without pre-vote and keeps it with pre-vote', (t) => {
  const seed = testSeed();
  const cases = [
    { preVote: true, checkQuorum: false, termGrows: false, disrupts: false },
    { preVote: false, checkQuorum: false, termGrows: true, disrupts: true },
  ];
  for (const c of cases) {
    const cl = new SimCluster({ voters: [1, 2, 3], seed, raft: { preVote: c.preVote, checkQuorum: c.checkQuorum } });
    const l = cl.electLeader();
    const term = cl.raw(l).raft.term;
    const lonely = cl.ids().find((id) => id !== l)!;
    cl.partition([[lonely], cl.ids().filter((id) => id !== lonely)]);
    runTicks(cl, 100);
    t.is(cl.raw(lonely).raft.term > term, c.termGrows, `${JSON.stringify(c)} SEED=${seed}`);
    t.is(cl.leader(), l, 'the majority side keeps its leader');
    cl.heal();
    // The returning node's next campaign (within 2 election timeouts) reaches the others.
    runTicks(cl, 30);
    // Without pre-vote the returning node's higher term deposes the working leader.
    t.is(cl.raw(l).raft.term > term, c.disrupts, `${JSON.stringify(c)} SEED=${seed}`);
    cl.electLeader();
  }
});

test('9.6: a pre-vote never changes the voter\'s term or vote; it is granted only to an up-to-date log', (t) => {
  const cases = [
    { candidateLast: [2, 5], grant: true },
    { candidateLast: [1, 9], grant: false },
  ];
  for (const c of cases) {
    const { raft } = mustRaft(1, { logTerms: [1, 2, 2, 2, 2], term: 2, vote: 3, checkQuorum: false });
    raft.step({ type: 'preVote', from: 2, to: 1, term: 3, index: c.candidateLast[1], logTerm: c.candidateLast[0] });
    const [resp] = mustTakeMsgs(raft, 'preVoteResp');
    t.is(resp!.reject !== true, c.grant);
    t.is(raft.term, 2);
    t.is(raft.vote, 3);
  }
});

test('9.6: a pre-candidate that wins the pre-vote runs a real election in the next term', (t) => {
  const { raft } = mustRaft(1, { term: 4, preVote: true });
  raft.campaign();
  t.is(raft.state, 'preCandidate');
  t.is(raft.term, 4, 'a pre-candidate stays in its term');
  const asks = mustTakeMsgs(raft, 'preVote');
  t.deepEqual(asks.map((m) => [m.to, m.term]), [[2, 5], [3, 5]]);
  raft.step({ type: 'preVoteResp', from: 2, to: 1, term: 5, reject: false });
  t.is(raft.state, 'candidate');
  t.is(raft.term, 5);
  t.is(mustTakeMsgs(raft, 'vote').length, 2);
});

test('6.2: with check-quorum a leader that cannot hear from a majority steps down within an election timeout', (t) => {
  const seed = testSeed();
  for (const checkQuorum of [true, false]) {
    const c = new SimCluster({ voters: [1, 2, 3, 4, 5], seed, raft: { checkQuorum, preVote: true } });
    const l = c.electLeader();
    c.partition([[l], c.ids().filter((id) => id !== l)]);
    runTicks(c, 25);
    t.is(c.raw(l).raft.state === 'leader', !checkQuorum, `checkQuorum=${checkQuorum} SEED=${seed}`);
    // Either way it can no longer commit anything.
    const r = c.propose(l, fromLatin1('lost'));
    if (r.ok) {
      runTicks(c, 3);
      t.false(c.node(l).sm.values.includes('lost'));
    } else {
      t.is(r.code, 'NOT_LEADER');
    }
  }
});

test('4.2.3: with check-quorum, a voter that heard from its leader within the election timeout ignores vote requests', (t) => {
  const cases = [
    { ticksSinceLeader: 0, force: false, ignored: true },
    { ticksSinceLeader: 5, force: false, ignored: true },
    { ticksSinceLeader: 10, force: false, ignored: false },
    { ticksSinceLeader: 0, force: true, ignored: false },
  ];
  for (const c of cases) {
    const { raft } = mustRaft(1, { term: 2, checkQuorum: true, preVote: false, electionTick: 10, seed: 99 });
    raft.step({ type: 'heartbeat', from: 2, to: 1, term: 2, commit: 0 });
    // Ticks below the randomized timeout keep it a follower; 10 is below the minimum of [10, 20)
    // only when it has not yet been reached, so stop ticking at election timeout - counted here.
    for (let i = 0; i < c.ticksSinceLeader; i++) raft.tick();
    mustTakeMsgs(raft);
    raft.step({ type: 'vote', from: 3, to: 1, term: 3, index: 5, logTerm: 2, ...(c.force ? { force: true } : {}) });
    const resps = mustTakeMsgs(raft, 'voteResp');
    t.is(resps.length === 0, c.ignored, JSON.stringify(c));
    t.is(raft.term === 2, c.ignored, JSON.stringify(c));
  }
});

test('6.2: a leader whose followers answer keeps leading through many election timeouts', (t) => {
  const { raft } = mustRaft(1, { preVote: false, checkQuorum: true });
  mustBecomeLeader(raft);
  for (let i = 0; i < 100; i++) {
    raft.tick();
    for (const m of mustTakeMsgs(raft, 'heartbeat')) {
      if (m.to === 2) raft.step({ type: 'heartbeatResp', from: 2, to: 1, term: raft.term });
    }
  }
  t.is(raft.state, 'leader');
});
