// Raft thesis 6.4: read index (a heartbeat round confirms leadership) and lease-based reads.
import test from 'ava';
import { testSeed } from '@flashkv/core/testing';
import { SimCluster, fromLatin1, latin1 } from '../testing/index.js';
import { mustBecomeLeader, mustRaft, mustTakeMsgs } from './helpers.js';

test('6.4: a leader answers a read index only after a quorum acknowledges the heartbeat round carrying it', (t) => {
  const cases: { voters: number; acks: number[]; answered: boolean }[] = [
    { voters: 3, acks: [], answered: false },
    { voters: 3, acks: [2], answered: true },
    { voters: 5, acks: [2], answered: false },
    { voters: 5, acks: [2, 5], answered: true },
  ];
  for (const c of cases) {
    const voters = Array.from({ length: c.voters }, (_, i) => i + 1);
    const { raft } = mustRaft(1, { voters, preVote: false });
    mustBecomeLeader(raft);
    for (const id of voters.slice(1)) raft.step({ type: 'appResp', from: id, to: 1, term: raft.term, index: raft.raftLog.lastIndex() });
    mustTakeMsgs(raft);
    raft.readIndex(fromLatin1('q'));
    const beats = mustTakeMsgs(raft, 'heartbeat');
    t.is(beats.length, c.voters - 1);
    t.true(beats.every((m) => latin1(m.context!) === 'q'));
    for (const id of c.acks) raft.step({ type: 'heartbeatResp', from: id, to: 1, term: raft.term, context: fromLatin1('q') });
    t.is(raft.readStates.length === 1, c.answered, JSON.stringify(c));
    if (c.answered) t.is(raft.readStates[0]!.index, raft.raftLog.committed);
  }
});

test('6.4: reads wait until the new leader commits an entry of its own term', (t) => {
  const { raft } = mustRaft(1, { preVote: false });
  mustBecomeLeader(raft);
  raft.readIndex(fromLatin1('early'));
  t.is(mustTakeMsgs(raft, 'heartbeat').length, 0, 'no round before the term\'s first entry commits');
  raft.step({ type: 'appResp', from: 2, to: 1, term: raft.term, index: raft.raftLog.lastIndex() });
  const beats = mustTakeMsgs(raft, 'heartbeat');
  t.true(beats.length > 0 && beats.every((m) => latin1(m.context!) === 'early'));
  raft.step({ type: 'heartbeatResp', from: 3, to: 1, term: raft.term, context: fromLatin1('early') });
  t.deepEqual(raft.readStates.map((r) => [r.index, latin1(r.ctx)]), [[raft.raftLog.committed, 'early']]);
});

test('6.4: one acknowledgement confirms every read queued before it', (t) => {
  const { raft } = mustRaft(1, { preVote: false });
  mustBecomeLeader(raft);
  raft.step({ type: 'appResp', from: 2, to: 1, term: raft.term, index: raft.raftLog.lastIndex() });
  for (const ctx of ['a', 'b', 'c']) raft.readIndex(fromLatin1(ctx));
  raft.step({ type: 'heartbeatResp', from: 2, to: 1, term: raft.term, context: fromLatin1('b') });
  t.deepEqual(raft.readStates.map((r) => latin1(r.ctx)), ['a', 'b']);
});

test('6.4: followers forward reads to the leader; without a known leader a read is NOT_LEADER', (t) => {
  const seed = testSeed();
  const c = new SimCluster({ voters: [1, 2, 3], seed });
  const l = c.electLeader();
  t.true(c.propose(l, fromLatin1('x')).ok);
  c.stabilize();
  const f = c.ids().find((id) => id !== l)!;
  t.is(c.readIndex(f, fromLatin1('from-follower')), undefined);
  c.stabilize();
  const reads = c.node(f).reads;
  t.is(reads.length, 1, `SEED=${seed}`);
  t.is(latin1(reads[0]!.ctx), 'from-follower');
  t.true(reads[0]!.index >= c.raw(l).raft.raftLog.committed);
  const { raft: lonely } = mustRaft(9, { voters: [7, 8, 9] });
  t.throws(() => lonely.readIndex(fromLatin1('r')), { code: 'NOT_LEADER' } as never);
});

test('6.4: a leader cut off from the majority cannot confirm a read; lease reads answer at once', (t) => {
  const seed = testSeed();
  for (const option of ['safe', 'leaseBased'] as const) {
    const c = new SimCluster({ voters: [1, 2, 3], seed, raft: { readOnlyOption: option } });
    const l = c.electLeader();
    c.stabilize();
    if (option === 'leaseBased') {
      c.partition([[l], c.ids().filter((id) => id !== l)]);
      c.readIndex(l, fromLatin1('lease'));
      c.handleReady(l);
      t.is(c.node(l).reads.length, 1, 'answered without a round trip');
    } else {
      c.partition([[l], c.ids().filter((id) => id !== l)]);
      c.readIndex(l, fromLatin1('stuck'));
      for (let i = 0; i < 5; i++) {
        c.stabilize();
        c.tickAll();
      }
      t.is(c.node(l).reads.length, 0, `SEED=${seed}`);
    }
  }
  t.throws(() => mustRaft(1, { readOnlyOption: 'leaseBased', checkQuorum: false }), { instanceOf: TypeError });
});
