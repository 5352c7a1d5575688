import test from 'ava';
import { checkRegionGate, NOT_IN_FLASHBACK, type GateRequest, type GateStage, type Region, type KvErrorCode } from '@flashkv/core';

const epoch = { version: 3, confVer: 2 };
const region = (inFlashback: boolean, startTs = 0n): Region => ({
  id: 7,
  startKey: new Uint8Array(),
  endKey: new Uint8Array(),
  epoch,
  peers: [],
  flashback: inFlashback ? { inFlashback: true, flashbackStartTs: startTs } : NOT_IN_FLASHBACK,
});
const FB = new Set(['flashback'] as const);

// Each row: region in flashback (S = 100)?, the request, the stage, the expected code (or undefined = pass).
const rows: [string, boolean, GateRequest, GateStage, KvErrorCode | undefined][] = [
  ['read below S passes (tikv#14045)', true, { kind: 'read', epoch, readTs: 99n }, 'read', undefined],
  ['read at S is refused', true, { kind: 'read', epoch, readTs: 100n }, 'read', 'FLASHBACK_IN_PROGRESS'],
  ['read above S is refused', true, { kind: 'read', epoch, readTs: 101n }, 'read', 'FLASHBACK_IN_PROGRESS'],
  ['raw read without ts is refused', true, { kind: 'read', epoch }, 'read', 'FLASHBACK_IN_PROGRESS'],
  ['read with ts 0 is refused', true, { kind: 'read', epoch, readTs: 0n }, 'read', 'FLASHBACK_IN_PROGRESS'],
  ['any write is refused at propose', true, { kind: 'write', epoch }, 'propose', 'FLASHBACK_IN_PROGRESS'],
  ['any write is refused at apply', true, { kind: 'write', epoch }, 'apply', 'FLASHBACK_IN_PROGRESS'],
  ['a flagged write passes', true, { kind: 'write', epoch, flags: FB }, 'apply', undefined],
  ['a flagged read at any ts passes', true, { kind: 'read', epoch, readTs: 500n, flags: FB }, 'read', undefined],
  ['split is refused', true, { kind: 'admin', epoch, command: 'split' }, 'apply', 'FLASHBACK_IN_PROGRESS'],
  ['transfer leader is refused', true, { kind: 'admin', epoch, command: 'transferLeader' }, 'apply', 'FLASHBACK_IN_PROGRESS'],
  ['prepare passes while in flashback', true, { kind: 'admin', epoch, command: 'prepareFlashback' }, 'apply', undefined],
  ['finish passes while in flashback', true, { kind: 'admin', epoch, command: 'finishFlashback' }, 'apply', undefined],
  ['finish passes outside flashback', false, { kind: 'admin', epoch, command: 'finishFlashback' }, 'apply', undefined],
  ['a flagged write outside flashback fails at apply', false, { kind: 'write', epoch, flags: FB }, 'apply', 'FLASHBACK_NOT_PREPARED'],
  ['a flagged write outside flashback passes at propose', false, { kind: 'write', epoch, flags: FB }, 'propose', undefined],
  ['a flagged read outside flashback passes', false, { kind: 'read', epoch, readTs: 5n, flags: FB }, 'read', undefined],
  ['a plain write outside flashback passes', false, { kind: 'write', epoch }, 'apply', undefined],
  ['a stale version is refused', false, { kind: 'write', epoch: { version: 2, confVer: 2 } }, 'propose', 'EPOCH_NOT_MATCH'],
  ['a write ignores conf_ver', false, { kind: 'write', epoch: { version: 3, confVer: 1 } }, 'propose', undefined],
  ['prepare checks conf_ver', false, { kind: 'admin', epoch: { version: 3, confVer: 1 }, command: 'prepareFlashback' }, 'apply', 'EPOCH_NOT_MATCH'],
  ['finish checks version', true, { kind: 'admin', epoch: { version: 4, confVer: 2 }, command: 'finishFlashback' }, 'apply', 'EPOCH_NOT_MATCH'],
  ['epoch is checked before flashback state', true, { kind: 'write', epoch: { version: 1, confVer: 2 } }, 'apply', 'EPOCH_NOT_MATCH'],
];

for (const [name, inFb, req, stage, want] of rows) {
  test(`gate: ${name}`, (t) => {
    const got = checkRegionGate(region(inFb, 100n), req, stage);
    t.is(got?.code, want, got?.message);
  });
}

test('FLASHBACK_IN_PROGRESS carries the region and start ts, worded like TiKV', (t) => {
  const err = checkRegionGate(region(true, 100n), { kind: 'write', epoch }, 'apply')!;
  t.deepEqual(err.details, { regionId: 7, flashbackStartTs: 100n });
  t.is(err.message, 'region 7 is in the flashback progress with start_ts 100');
});

test('a region with only a start ts recorded counts as in flashback', (t) => {
  const r: Region = { ...region(false), flashback: { inFlashback: false, flashbackStartTs: 9n } };
  t.is(checkRegionGate(r, { kind: 'write', epoch }, 'apply')?.code, 'FLASHBACK_IN_PROGRESS');
});
