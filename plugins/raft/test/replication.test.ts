// Raft paper section 5.3 (log replication) and the flow control etcd adds, as table-driven tests.
import test from 'ava';
import { testSeed } from '@flashkv/core/testing';
import { SimCluster, fromLatin1 } from '../testing/index.js';
import { bytes, entriesWithTerms, mustBecomeLeader, mustPump, mustRaft, mustTakeMsgs } from './helpers.js';

test('5.3: an entry commits once a majority of voters hold it, not before', (t) => {
  const cases: { voters: number; acks: number[]; committed: boolean }[] = [
    { voters: 1, acks: [], committed: true },
    { voters: 3, acks: [], committed: false },
    { voters: 3, acks: [2], committed: true },
    { voters: 5, acks: [2], committed: false },
    { voters: 5, acks: [2, 3], committed: true },
    { voters: 4, acks: [2], committed: false },
    { voters: 4, acks: [2, 4], committed: true },
  ];
  for (const c of cases) {
    const voters = Array.from({ length: c.voters }, (_, i) => i + 1);
    const { raft } = mustRaft(1, { voters, preVote: false });
    mustBecomeLeader(raft);
    const noop = raft.raftLog.lastIndex();
    // Everyone acknowledges the leader's first entry so only the new one is in question.
    for (const id of voters.slice(1)) raft.step({ type: 'appResp', from: id, to: 1, term: raft.term, index: noop });
    const { index } = raft.propose(bytes('x'));
    for (const id of c.acks) raft.step({ type: 'appResp', from: id, to: 1, term: raft.term, index });
    t.is(raft.raftLog.committed >= index, c.committed, JSON.stringify(c));
  }
});

test('5.3: a follower accepts an append only if its log holds the previous entry with the same term', (t) => {
  // Follower log terms: [1, 1, 2] (indexes 1..3).
  const cases: { index: number; logTerm: number; accept: boolean; hint?: [number, number] }[] = [
    { index: 3, logTerm: 2, accept: true },
    { index: 2, logTerm: 1, accept: true },
    { index: 0, logTerm: 0, accept: true },
    { index: 3, logTerm: 3, accept: false, hint: [3, 2] },
    { index: 4, logTerm: 2, accept: false, hint: [3, 2] },
    { index: 5, logTerm: 3, accept: false, hint: [3, 2] },
    { index: 3, logTerm: 1, accept: false, hint: [2, 1] },
  ];
  for (const c of cases) {
    const { raft } = mustRaft(2, { logTerms: [1, 1, 2], term: 3 });
    raft.step({ type: 'app', from: 1, to: 2, term: 3, index: c.index, logTerm: c.logTerm, commit: 0, entries: [] });
    const [resp] = mustTakeMsgs(raft, 'appResp');
    t.is(resp!.reject === true, !c.accept, JSON.stringify(c));
    if (c.hint !== undefined) t.deepEqual([resp!.rejectHint, resp!.logTerm], c.hint, `hint for ${JSON.stringify(c)}`);
  }
});

test('5.3: conflicting follower entries are replaced by the leader\'s, matching ones are kept', (t) => {
  const cases: { follower: number[]; prev: [number, number]; entries: number[]; want: number[] }[] = [
    { follower: [1, 1, 2, 2], prev: [2, 1], entries: [3], want: [1, 1, 3] },
    { follower: [1, 1, 2, 2], prev: [2, 1], entries: [2, 2], want: [1, 1, 2, 2] },
    { follower: [1, 1, 2, 2], prev: [2, 1], entries: [2], want: [1, 1, 2, 2] },
    { follower: [1, 1], prev: [2, 1], entries: [3, 3, 3], want: [1, 1, 3, 3, 3] },
    { follower: [1, 2, 2, 2, 2], prev: [1, 1], entries: [3, 3], want: [1, 3, 3] },
  ];
  for (const c of cases) {
    const { raft } = mustRaft(2, { logTerms: c.follower, term: 3 });
    const entries = entriesWithTerms(c.entries, c.prev[0] + 1);
    raft.step({ type: 'app', from: 1, to: 2, term: 3, index: c.prev[0], logTerm: c.prev[1], commit: 0, entries });
    t.deepEqual(raft.raftLog.allEntries().map((e) => e.term), c.want, JSON.stringify(c));
  }
});

test('5.3: a follower never commits past what the leader told it or what it holds', (t) => {
  const { raft } = mustRaft(2, { logTerms: [1, 1, 1], term: 1 });
  raft.step({ type: 'app', from: 1, to: 2, term: 1, index: 1, logTerm: 1, commit: 10, entries: [] });
  // Commit is min(leader commit, index of last new entry) (fig. 2, AppendEntries step 5).
  t.is(raft.raftLog.committed, 1);
  raft.step({ type: 'app', from: 1, to: 2, term: 1, index: 3, logTerm: 1, commit: 2, entries: [] });
  t.is(raft.raftLog.committed, 2);
});

test('5.3: reject hints let a leader skip a whole divergent term per round trip (figure 7 style logs)', (t) => {
  const cases: { leader: number[]; follower: number[]; maxRejects: number }[] = [
    { leader: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6], follower: [1, 1, 1, 4, 4, 5, 5, 6, 6], maxRejects: 1 },
    { leader: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6], follower: [1, 1, 1, 4], maxRejects: 1 },
    { leader: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6], follower: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3], maxRejects: 2 },
    { leader: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6], follower: [1, 1, 1, 4, 4, 4, 4], maxRejects: 2 },
    { leader: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6], follower: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7], maxRejects: 2 },
  ];
  for (const c of cases) {
    const { raft: leader } = mustRaft(1, { logTerms: c.leader, term: 7, preVote: false });
    const { raft: follower } = mustRaft(2, { logTerms: c.follower, term: 7 });
    mustBecomeLeader(leader);
    leader.step({ type: 'heartbeatResp', from: 2, to: 1, term: leader.term });
    const delivered = mustPump([leader, follower]);
    const rejects = delivered.filter((m) => m.type === 'appResp' && m.reject === true).length;
    t.true(rejects <= c.maxRejects, `${rejects} rejections for ${JSON.stringify(c)}`);
    t.deepEqual(
      follower.raftLog.allEntries().map((e) => e.term),
      leader.raftLog.allEntries().map((e) => e.term),
      JSON.stringify(c),
    );
  }
});

test('flow control: probe state sends one append at a time, replicate state at most maxInflightMsgs', (t) => {
  const { raft } = mustRaft(1, { voters: [1, 2, 3], preVote: false, maxInflightMsgs: 2 });
  mustBecomeLeader(raft);
  const appsTo2 = (): number => mustTakeMsgs(raft, 'app').filter((m) => m.to === 2 && (m.entries?.length ?? 0) > 0).length;
  // The leader's first append to 2 is out unanswered: 2 is probing, so new proposals wait.
  t.is(raft.tracker.progress.get(2)!.state, 'probe');
  raft.propose(bytes('a'));
  raft.propose(bytes('b'));
  t.is(appsTo2(), 0);
  // 2 answers, matching at the no-op: it moves to replicate and gets the backlog.
  raft.step({ type: 'appResp', from: 2, to: 1, term: raft.term, index: raft.raftLog.lastIndex() - 2 });
  t.is(raft.tracker.progress.get(2)!.state, 'replicate');
  t.is(appsTo2(), 1);
  for (const v of ['c', 'd', 'e', 'f']) raft.propose(bytes(v));
  // One more fits in the window of two; the rest wait for acknowledgements.
  t.is(appsTo2(), 1);
  t.true(raft.tracker.progress.get(2)!.inflights.full());
  raft.step({ type: 'appResp', from: 2, to: 1, term: raft.term, index: raft.raftLog.lastIndex() });
  t.false(raft.tracker.progress.get(2)!.inflights.full());
  t.is(raft.tracker.progress.get(2)!.match, raft.raftLog.lastIndex());
});

test('flow control: a heartbeat response frees a stuck window and a stale rejection is ignored', (t) => {
  const { raft } = mustRaft(1, { voters: [1, 2, 3], preVote: false, maxInflightMsgs: 1 });
  mustBecomeLeader(raft);
  raft.step({ type: 'appResp', from: 2, to: 1, term: raft.term, index: raft.raftLog.lastIndex() });
  raft.propose(bytes('a'));
  mustTakeMsgs(raft);
  raft.propose(bytes('b'));
  t.is(mustTakeMsgs(raft, 'app').filter((m) => m.to === 2).length, 0, 'window of one is full');
  raft.step({ type: 'heartbeatResp', from: 2, to: 1, term: raft.term });
  t.is(mustTakeMsgs(raft, 'app').filter((m) => m.to === 2).length, 1, 'the heartbeat response let one more out');
  const pr = raft.tracker.progress.get(2)!;
  const next = pr.next;
  // A rejection of an index at or below match is an old answer: it must not rewind next.
  raft.step({ type: 'appResp', from: 2, to: 1, term: raft.term, index: pr.match, reject: true, rejectHint: 0 });
  t.is(pr.next, next);
  t.is(pr.state, 'replicate');
});

test('5.3: on a lossy, reordering, duplicating network every proposal that commits is applied everywhere in order', (t) => {
  const seed = testSeed();
  const c = new SimCluster({ voters: [1, 2, 3, 4, 5], seed, network: { dropRate: 0.1, duplicateRate: 0.1, maxDelay: 2 } });
  const leader = c.electLeader();
  const accepted: string[] = [];
  for (let i = 0; i < 40; i++) {
    const r = c.propose(c.leader() ?? leader, fromLatin1(`p${i}`));
    if (r.ok) accepted.push(`p${i}`);
    for (let k = 0; k < 5; k++) {
      const d = c.deliverable();
      if (d.length > 0) c.deliver(d[d.length - 1 - (k % d.length)]!);
      for (const id of c.ids()) if (c.hasReady(id)) c.handleReady(id);
    }
    c.tickAll();
  }
  // A proposal accepted by a leader that then lost its lead may be dropped; a final one made
  // on a settled cluster must reach everyone.
  const last = c.electLeader();
  t.true(c.propose(last, fromLatin1('last')).ok);
  for (let i = 0; i < 100 && !c.ids().every((id) => c.node(id).sm.values.includes('last')); i++) {
    c.stabilize();
    c.tickAll();
  }
  const applied = c.node(1).sm.values;
  for (const id of c.ids()) t.deepEqual(c.node(id).sm.values, applied, `node ${id} SEED=${seed}`);
  t.is(applied[applied.length - 1], 'last', `SEED=${seed}`);
  // Applied in proposal order, each at most once.
  const positions = applied.slice(0, -1).map((v) => accepted.indexOf(v));
  t.true(positions.every((p, i) => p >= 0 && (i === 0 || p > positions[i - 1]!)), `SEED=${seed}: ${applied.join(',')}`);
  t.true(applied.length > 20, `SEED=${seed}: only ${applied.length} of ${accepted.length} applied`);
});

test('group commit: proposeBatch appends the entries together and sends one append per follower carrying all of them; one ack commits them all', (t) => {
  const { raft } = mustRaft(1, { voters: [1, 2, 3], preVote: false });
  mustBecomeLeader(raft);
  const noop = raft.raftLog.lastIndex();
  for (const id of [2, 3]) raft.step({ type: 'appResp', from: id, to: 1, term: raft.term, index: noop });
  mustTakeMsgs(raft);
  const ids = raft.proposeBatch([bytes('a'), bytes('b'), bytes('c')]);
  t.deepEqual(ids, [1, 2, 3].map((i) => ({ index: noop + i, term: raft.term })));
  const apps = mustTakeMsgs(raft, 'app');
  t.deepEqual(apps.map((m) => m.to).sort(), [2, 3], 'one append per follower');
  for (const m of apps) t.deepEqual(m.entries!.map((e) => new TextDecoder().decode(e.data)), ['a', 'b', 'c']);
  raft.step({ type: 'appResp', from: 2, to: 1, term: raft.term, index: noop + 3 });
  t.is(raft.raftLog.committed, noop + 3, 'a majority ack of the last entry commits the batch');
  t.deepEqual(raft.proposeBatch([]), []);
  t.throws(() => raft.proposeBatch([bytes('x'), 'nope' as unknown as Uint8Array]), { instanceOf: TypeError });
  t.is(raft.raftLog.lastIndex(), noop + 3, 'a refused batch appends nothing');
});
