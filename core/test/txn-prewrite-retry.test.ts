/**
 * A prewrite retried after an unknown outcome (TiKV `check_committed_record_on_err`): when the
 * first attempt committed (1PC, or a key already committed), the retry meets its own commit
 * record and must report the txn committed at that ts, writing nothing, instead of a
 * WRITE_CONFLICT against itself. A rollback of the txn and a real conflict still refuse it.
 */
import test, { type ExecutionContext } from 'ava';
import { codec, EventCatalogue, KvError, LocalConsensus, LocalPlacement, ManualClock, Storage, TxnClient, type AppliedEvent, type KvErrorCode } from '@flashkv/core';
import { bytes, latin1, ReferenceEngine } from '@flashkv/core/testing';

async function setup() {
  const engine = new ReferenceEngine();
  const events = new EventCatalogue();
  const clock = new ManualClock(1_700_000_000_000);
  const placement = await LocalPlacement.open({ engine, clock, events });
  const consensus = new LocalConsensus({ engine, placement, events });
  const storage = new Storage({ consensus, placement });
  const applied: AppliedEvent[] = [];
  events.applied$.subscribe((e) => applied.push(e));
  return { engine, placement, consensus, storage, applied };
}
type Env = Awaited<ReturnType<typeof setup>>;

const str = (v: Uint8Array | undefined) => (v === undefined ? undefined : latin1(v));

async function mustRefuse(t: ExecutionContext, p: Promise<unknown>, code: KvErrorCode): Promise<KvError> {
  const err = await t.throwsAsync(p, { instanceOf: KvError });
  t.is(err!.code, code, err!.message);
  return err as KvError;
}

function putReq(startTs: bigint, kvs: Record<string, string>, tryOnePc: boolean) {
  const keys = Object.keys(kvs);
  return { mutations: keys.map((k) => ({ op: 'put' as const, key: bytes(k), value: bytes(kvs[k]!) })), primary: bytes(keys[0]!), startTs, lockTtl: 3000n, tryOnePc };
}

async function writesOf(env: Env, key: string) {
  return (await env.storage.mvccByKey(bytes(key))).writes.map((w) => ({ commitTs: w.commitTs, startTs: w.write.startTs, type: w.write.writeType }));
}

async function split(env: Env, at: string): Promise<void> {
  const r = env.placement.regionForKey(codec.encodeBytes(bytes(at)));
  await env.consensus.admin({ regionId: r.id, epoch: r.epoch }, { type: 'split', splitKey: codec.encodeBytes(bytes(at)) });
}

test('must_1pc_retried_after_commit: the retried 1PC prewrite reports the same commit ts and writes nothing', async (t) => {
  const env = await setup();
  const startTs = await env.placement.getTs();
  const first = await env.storage.prewrite(putReq(startTs, { a: '1', b: '2' }, true));
  t.true(first.onePcCommitTs > startTs);
  const before = env.applied.length;
  const again = await env.storage.prewrite(putReq(startTs, { a: '1', b: '2' }, true));
  t.is(again.onePcCommitTs, first.onePcCommitTs, 'the retry reports the commit it found');
  t.is(env.applied.length, before, 'nothing was written by the retry');
  for (const k of ['a', 'b']) {
    t.deepEqual(await writesOf(env, k), [{ commitTs: first.onePcCommitTs, startTs, type: 'Put' }], `${k}: exactly one commit record`);
    t.is((await env.storage.mvccByKey(bytes(k))).lock, undefined);
  }
  t.is(str(await env.storage.get(bytes('b'), first.onePcCommitTs)), '2');
});

test('must_1pc_retried_after_commit_under_newer_write: the own record is found below a later txn\'s commit', async (t) => {
  const env = await setup();
  const startTs = await env.placement.getTs();
  const first = await env.storage.prewrite(putReq(startTs, { a: '1' }, true));
  const later = await env.placement.getTs();
  const other = await env.storage.prewrite(putReq(later, { a: 'x' }, true));
  t.true(other.onePcCommitTs > first.onePcCommitTs);
  const again = await env.storage.prewrite(putReq(startTs, { a: '1' }, true));
  t.is(again.onePcCommitTs, first.onePcCommitTs);
  t.is((await writesOf(env, 'a')).length, 2);
});

test('must_1pc_retried_after_split: a 1PC that committed before a split is reported committed by the 2PC retry', async (t) => {
  const env = await setup();
  const startTs = await env.placement.getTs();
  const first = await env.storage.prewrite(putReq(startTs, { a: '1', m: '2' }, true));
  t.true(first.onePcCommitTs > startTs);
  await split(env, 'k');
  const again = await env.storage.prewrite(putReq(startTs, { a: '1', m: '2' }, true));
  t.is(again.onePcCommitTs, first.onePcCommitTs);
  for (const k of ['a', 'm']) {
    t.is((await writesOf(env, k)).length, 1);
    t.is((await env.storage.mvccByKey(bytes(k))).lock, undefined);
  }
});

test('must_2pc_key_committed_then_prewrite_retried: success, no lock and no record written', async (t) => {
  const env = await setup();
  const startTs = await env.placement.getTs();
  await env.storage.prewrite(putReq(startTs, { a: '1' }, false));
  const commitTs = await env.placement.getTs();
  await env.storage.commit({ keys: [bytes('a')], startTs, commitTs });
  const before = env.applied.length;
  const again = await env.storage.prewrite(putReq(startTs, { a: '1' }, false));
  t.is(again.onePcCommitTs, commitTs, 'every key of the request was found committed at commitTs');
  t.is(env.applied.length, before);
  t.is((await env.storage.mvccByKey(bytes('a'))).lock, undefined);
  t.deepEqual(await writesOf(env, 'a'), [{ commitTs, startTs, type: 'Put' }]);
});

test('must_pessimistic_retried_after_1pc: a pessimistic 1PC retried after it committed reports the same commit ts', async (t) => {
  const env = await setup();
  const startTs = await env.placement.getTs();
  await env.storage.acquirePessimisticLock({ keys: [bytes('p')], primary: bytes('p'), startTs, forUpdateTs: startTs, lockTtl: 3000n });
  const req = { ...putReq(startTs, { p: 'v' }, true), forUpdateTs: startTs, isPessimisticLock: [true] };
  const first = await env.storage.prewrite(req);
  t.true(first.onePcCommitTs > startTs);
  const again = await env.storage.prewrite(req);
  t.is(again.onePcCommitTs, first.onePcCommitTs);
  t.is((await writesOf(env, 'p')).length, 1);
});

test('must_rolled_back_then_retried: the retry is refused and writes nothing', async (t) => {
  const env = await setup();
  const startTs = await env.placement.getTs();
  await env.storage.prewrite(putReq(startTs, { a: '1' }, false));
  await env.storage.rollback({ keys: [bytes('a')], startTs });
  const err = await mustRefuse(t, env.storage.prewrite(putReq(startTs, { a: '1' }, true)), 'WRITE_CONFLICT');
  t.is(err.details['reason'], 'SelfRolledBack');
  t.is((await env.storage.mvccByKey(bytes('a'))).lock, undefined);
  t.deepEqual(await writesOf(env, 'a'), [{ commitTs: startTs, startTs, type: 'Rollback' }]);
  // A later txn's commit above the rollback: still refused (the rollback is ours, not a commit).
  const later = await env.placement.getTs();
  await env.storage.prewrite(putReq(later, { a: 'x' }, true));
  const err2 = await mustRefuse(t, env.storage.prewrite(putReq(startTs, { a: '1' }, true)), 'WRITE_CONFLICT');
  t.is(err2.details['conflictStartTs'], later);
});

test('must_real_conflict_still_conflicts: another txn\'s newer commit refuses the prewrite, even next to an own commit', async (t) => {
  const env = await setup();
  const startTs = await env.placement.getTs();
  const otherStart = await env.placement.getTs();
  const other = await env.storage.prewrite(putReq(otherStart, { a: 'x' }, true));
  t.true(other.onePcCommitTs > startTs);
  await mustRefuse(t, env.storage.prewrite(putReq(startTs, { a: '1' }, true)), 'WRITE_CONFLICT');
  await mustRefuse(t, env.storage.prewrite(putReq(startTs, { a: '1' }, false)), 'WRITE_CONFLICT');
  t.is((await env.storage.mvccByKey(bytes('a'))).lock, undefined);
  t.is((await writesOf(env, 'a')).length, 1);
});

test('TxnClient: a 1PC commit whose prewrite answer is lost (NOT_LEADER unknownOutcome) is reported committed at its commit ts', async (t) => {
  const env = await setup();
  const real = env.storage.prewrite.bind(env.storage);
  let lost = 0;
  let committedAt = 0n;
  env.storage.prewrite = async (req) => {
    const r = await real(req);
    if (lost === 0) {
      lost++;
      committedAt = r.onePcCommitTs;
      throw new KvError('NOT_LEADER', 'store stopped mid-write', { unknownOutcome: true });
    }
    return r;
  };
  const client = new TxnClient({ storage: env.storage, sleep: async () => {}, seed: 3 });
  const txn = await client.begin();
  await txn.put(bytes('k1'), bytes('v1'));
  await txn.put(bytes('k2'), bytes('v2'));
  const commitTs = await txn.commit();
  t.is(lost, 1);
  t.true(committedAt > 0n);
  t.is(commitTs, committedAt, 'the client reports the commit the first attempt made');
  t.is(str(await env.storage.get(bytes('k2'), commitTs)), 'v2');
  t.is((await writesOf(env, 'k1')).length, 1);
  await client.close();
});
