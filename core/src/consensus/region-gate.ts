import { KvError } from '../errors.js';
import { compareBytes } from '../engine/engine.js';
import type { Region, RegionEpoch } from '../placement/region.js';
import type { AdminCommand, RequestFlag } from './consensus.js';

export type GateStage = 'propose' | 'apply' | 'read';

export type GateRequest =
  | { readonly kind: 'read'; readonly epoch: RegionEpoch; readonly readTs?: bigint; readonly flags?: ReadonlySet<RequestFlag> }
  | { readonly kind: 'write'; readonly epoch: RegionEpoch; readonly flags?: ReadonlySet<RequestFlag> }
  | { readonly kind: 'admin'; readonly epoch: RegionEpoch; readonly command: AdminCommand['type'] };

export function isInFlashback(region: Region): boolean {
  // TiKV: in flashback if the flag is set or a start ts is recorded (FLASHBACK.md a.3.1).
  return region.flashback.inFlashback || region.flashback.flashbackStartTs > 0n;
}

export function flashbackInProgress(region: Region): KvError {
  const s = region.flashback.flashbackStartTs;
  return new KvError('FLASHBACK_IN_PROGRESS', `region ${region.id} is in the flashback progress with start_ts ${s}`, { regionId: region.id, flashbackStartTs: s });
}

export function epochNotMatch(region: Region, given: RegionEpoch): KvError {
  return new KvError(
    'EPOCH_NOT_MATCH',
    `region ${region.id} epoch is version ${region.epoch.version} conf_ver ${region.epoch.confVer}, request has version ${given.version} conf_ver ${given.confVer}`,
    { regionId: region.id, currentRegions: [region], requestEpoch: given },
  );
}

/**
 * The region gate (FLASHBACK.md a.3.2 and TiKV's epoch check), one piece of code both
 * LocalConsensus and raft call at propose/read time and again at apply. Returns the error to
 * refuse the request with, or undefined to let it pass. Pure: no I/O, no clock.
 */
export function checkRegionGate(region: Region, req: GateRequest, stage: GateStage): KvError | undefined {
  // Epoch: normal requests check the version (a split or merge changed the range); admin commands
  // check what they depend on: membership changes conf_ver, the rest both (TiKV's
  // check_region_epoch table; Prepare/FinishFlashback check version and conf_ver).
  const e = region.epoch;
  if (req.kind === 'admin') {
    const checkConf = true;
    const checkVer = req.command !== 'transferLeader';
    if ((checkVer && req.epoch.version !== e.version) || (checkConf && req.epoch.confVer !== e.confVer)) return epochNotMatch(region, req.epoch);
  } else if (req.epoch.version !== e.version) {
    return epochNotMatch(region, req.epoch);
  }

  // Rule 1: the flashback admin commands always pass, whatever the state.
  if (req.kind === 'admin' && (req.command === 'prepareFlashback' || req.command === 'finishFlashback')) return undefined;
  const flagged = req.kind !== 'admin' && req.flags?.has('flashback') === true;
  if (isInFlashback(region)) {
    if (flagged) return undefined;
    // Rule 2: only a read with a non-zero ts below the flashback's start_ts passes (tikv#14045).
    if (req.kind === 'read' && req.readTs !== undefined && req.readTs !== 0n && req.readTs < region.flashback.flashbackStartTs) return undefined;
    return flashbackInProgress(region);
  }
  // Rule 3: a flagged request on a region not in flashback fails only at apply; propose and
  // read paths skip the rule, so flagged reads succeed (TiKV test_allow_read_only_request).
  if (flagged && stage === 'apply') {
    return new KvError('FLASHBACK_NOT_PREPARED', `region ${region.id} is not prepared for the flashback`, { regionId: region.id });
  }
  return undefined;
}

/** Refuses keys outside a region ([start, end), empty end unbounded). Keys are encoded, without 'z'. */
export function checkKeyInRegion(region: Region, encodedKey: Uint8Array): KvError | undefined {
  if (compareBytes(encodedKey, region.startKey) < 0 || (region.endKey.length > 0 && compareBytes(encodedKey, region.endKey) >= 0)) {
    return new KvError('KEY_NOT_IN_REGION', `key is not in region ${region.id}`, { regionId: region.id, key: encodedKey, startKey: region.startKey, endKey: region.endKey });
  }
  return undefined;
}
