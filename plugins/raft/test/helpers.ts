import { Rng } from '@flashkv/core/testing';
import { MemoryStorage, Raft, type Entry, type Message, type MessageType, type RaftConfig } from '../src/core/index.js';

export const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Entries with the given terms at indexes 1..n. */
export function entriesWithTerms(terms: readonly number[], from = 1): Entry[] {
  return terms.map((term, i) => ({ term, index: from + i, type: 'normal' as const, data: bytes(`e${from + i}`) }));
}

export interface RaftSetup extends Partial<Omit<RaftConfig, 'id' | 'storage' | 'rng'>> {
  readonly voters?: readonly number[];
  readonly learners?: readonly number[];
  /** Terms of the persisted log, index 1 upwards. */
  readonly logTerms?: readonly number[];
  readonly term?: number;
  readonly vote?: number;
  readonly commit?: number;
  readonly seed?: number;
}

/** A single Raft over a MemoryStorage holding `logTerms`, for rule-by-rule tests that feed messages by hand. */
export function mustRaft(id: number, setup: RaftSetup = {}): { raft: Raft; storage: MemoryStorage } {
  const storage = new MemoryStorage({ confState: { voters: setup.voters ?? [1, 2, 3], learners: setup.learners ?? [] } });
  if (setup.logTerms !== undefined) storage.append(entriesWithTerms(setup.logTerms));
  storage.setHardState({ term: setup.term ?? 0, vote: setup.vote ?? 0, commit: setup.commit ?? 0 });
  const { voters: _v, learners: _l, logTerms: _t, term: _term, vote: _vote, commit: _c, seed, ...config } = setup;
  const raft = new Raft({ id, storage, rng: new Rng(seed ?? id), electionTick: 10, heartbeatTick: 1, ...config });
  return { raft, storage };
}

/** Removes and returns the messages the raft wants sent (optionally only of some types). */
export function mustTakeMsgs(raft: Raft, ...types: MessageType[]): Message[] {
  const all = raft.msgs;
  raft.msgs = [];
  return types.length === 0 ? all : all.filter((m) => types.includes(m.type));
}

/** Ticks until the raft leaves the follower state or `max` ticks pass; returns ticks used. */
export function mustTickUntilCampaign(raft: Raft, max = 100): number {
  for (let t = 1; t <= max; t++) {
    raft.tick();
    if (raft.state !== 'follower') return t;
  }
  throw new Error(`node ${raft.id} did not campaign within ${max} ticks`);
}

/** Makes a fresh raft the leader of term `term`+1 by granting every vote it asks for. */
export function mustBecomeLeader(raft: Raft): void {
  raft.campaign();
  for (let round = 0; round < 2 && raft.state !== 'leader'; round++) {
    const asks = mustTakeMsgs(raft, 'vote', 'preVote');
    for (const m of asks) {
      raft.step({ type: m.type === 'vote' ? 'voteResp' : 'preVoteResp', from: m.to, to: raft.id, term: m.term, reject: false });
    }
  }
  if (raft.state !== 'leader') throw new Error(`node ${raft.id} did not become leader (state ${raft.state})`);
  mustTakeMsgs(raft);
}

/**
 * Passes messages between the given rafts (dropping those to anyone else) until none are left;
 * returns every message delivered, in order.
 */
export function mustPump(rafts: readonly Raft[], maxMessages = 10_000): Message[] {
  const byId = new Map(rafts.map((r) => [r.id, r]));
  const delivered: Message[] = [];
  for (;;) {
    const batch = rafts.flatMap((r) => mustTakeMsgs(r));
    if (batch.length === 0) return delivered;
    for (const m of batch) {
      const to = byId.get(m.to);
      if (to === undefined) continue;
      delivered.push(m);
      if (delivered.length > maxMessages) throw new Error('mustPump: messages never settle');
      to.step(m);
    }
  }
}
