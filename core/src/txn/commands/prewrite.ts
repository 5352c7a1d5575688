/**
 * Prewrite command (TiKV `commands/prewrite.rs`): latches the mutated keys, runs the prewrite
 * action for each over one snapshot, and writes every lock in one consensus write, so a failing
 * key leaves no lock behind in this region. With `tryOnePc` the locks never reach storage: the
 * commit ts comes from the TSO (at least every key's min commit ts) and the Write records are
 * written at once with the 'onePc' flag.
 */
import type { EncodedKey } from '../../codec/index.js';
import { commitOnePc, prewrite, type Mutation } from '../actions/prewrite.js';
import { maxTs } from '../actions/common.js';
import { isKvError } from '../../errors.js';
import type { MvccReader } from '../mvcc/reader.js';
import { MvccTxn } from '../mvcc/txn.js';
import type { Command } from '../scheduler/command.js';
import { assertArgs, ONE_PC_FLAGS, withReader, writeTxn, type RegionRoute, type TxnCommandContext } from './context.js';

export interface PrewriteCommandArgs {
  readonly route: RegionRoute;
  /** Keys are encoded keys. */
  readonly mutations: readonly Mutation[];
  readonly primary: Uint8Array;
  readonly startTs: bigint;
  readonly lockTtl: bigint;
  readonly forUpdateTs?: bigint;
  /** Per mutation (same order): the key holds this txn's pessimistic lock. */
  readonly isPessimisticLock?: readonly boolean[];
  readonly tryOnePc?: boolean;
  readonly minCommitTs?: bigint;
  readonly txnSize?: bigint;
}

export interface PrewriteCommandResult {
  /** The largest min commit ts the locks carry (0n if none was set). */
  readonly minCommitTs: bigint;
  /** Non-zero when the txn was committed by 1PC at this ts; 0n means locks were written. */
  readonly onePcCommitTs: bigint;
  /**
   * Non-zero when a key already holds this txn's commit record (a retried prewrite whose first
   * attempt committed, e.g. by 1PC): the txn is committed at this ts and nothing was written.
   */
  readonly committedTs?: bigint;
}

/**
 * TiKV `check_committed_record_on_err`: a prewrite that failed with a write conflict (or a lost
 * pessimistic lock) may be a retry of one that already committed, its own commit record being the
 * "newer version" it met. Only a record with exactly our start ts that is not a Rollback counts;
 * anything else keeps the original error. Returns the commit ts, or 0n.
 */
function ownCommitTs(reader: MvccReader, key: EncodedKey, startTs: bigint, e: unknown): bigint {
  const conflict = isKvError(e, 'WRITE_CONFLICT') && e.details['reason'] !== 'SelfRolledBack';
  if (!conflict && !isKvError(e, 'TXN_LOCK_NOT_FOUND')) return 0n;
  const rec = reader.getTxnCommitRecord(key, startTs);
  if (rec.kind !== 'single' || rec.write.writeType === 'Rollback' || rec.write.startTs !== startTs || rec.commitTs <= startTs) return 0n;
  return rec.commitTs;
}

export class PrewriteCommand implements Command<PrewriteCommandResult, TxnCommandContext> {
  readonly name = 'prewrite';
  constructor(readonly args: PrewriteCommandArgs) {
    assertArgs(this.name, args);
    if (!Array.isArray(args.mutations)) throw new TypeError('prewrite: mutations must be an array');
  }

  latchKeys(): readonly EncodedKey[] {
    return this.args.mutations.map((m) => m.key);
  }

  async process(ctx: TxnCommandContext): Promise<PrewriteCommandResult> {
    const a = this.args;
    const txn = new MvccTxn(a.startTs);
    // One object shape whatever is set (no spreads): the action reads absent fields as undefined.
    const props = {
      startTs: a.startTs,
      primary: a.primary,
      lockTtl: a.lockTtl,
      forUpdateTs: a.forUpdateTs,
      minCommitTs: a.minCommitTs,
      txnSize: a.txnSize,
      tryOnePc: a.tryOnePc === true,
    };
    let minCommitTs = 0n;
    let committedTs = 0n;
    await withReader(ctx, a.route, undefined, (reader) => {
      const muts = a.mutations;
      const pess = a.isPessimisticLock;
      for (let i = 0; i < muts.length; i++) {
        let r;
        try {
          r = prewrite(txn, reader, props, muts[i]!, pess?.[i] === true);
        } catch (e) {
          committedTs = ownCommitTs(reader, muts[i]!.key, a.startTs, e);
          if (committedTs === 0n) throw e;
          return;
        }
        minCommitTs = maxTs(minCommitTs, r.minCommitTs);
      }
    });
    if (committedTs !== 0n) {
      // Already committed (TiKV clears the txn here): write nothing, report the commit ts.
      return { minCommitTs: committedTs, onePcCommitTs: a.tryOnePc === true ? committedTs : 0n, committedTs };
    }
    if (a.tryOnePc !== true || txn.locksForOnePc.length === 0) {
      await writeTxn(ctx, a.route, txn);
      return { minCommitTs, onePcCommitTs: 0n };
    }
    const ticket = ctx.fence.enter(txn.locksForOnePc.map((l) => l.key));
    try {
      const commitTs = maxTs(await ctx.tso.getTs(), minCommitTs);
      ticket.setCommitTs(commitTs);
      commitOnePc(txn, commitTs);
      await writeTxn(ctx, a.route, txn, ONE_PC_FLAGS);
      return { minCommitTs, onePcCommitTs: commitTs };
    } finally {
      ticket.end();
    }
  }
}
