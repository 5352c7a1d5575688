/**
 * The transaction commands registered by name (DESIGN.md section 5), so Storage runs every
 * request through one registry that other plugins extend (flashback adds its own commands).
 */
import { CommandRegistry } from '../scheduler/command.js';
import { AcquirePessimisticLockCommand, type AcquirePessimisticLockCommandArgs } from './acquire-pessimistic-lock.js';
import { BatchGetCommand, type BatchGetCommandArgs } from './batch-get.js';
import { CheckTxnStatusCommand, type CheckTxnStatusCommandArgs } from './check-txn-status.js';
import { CleanupCommand, type CleanupCommandArgs } from './cleanup.js';
import { CommitCommand, type CommitCommandArgs } from './commit.js';
import type { TxnCommandContext } from './context.js';
import { GcCommand, type GcCommandArgs } from './gc.js';
import { GetCommand, type GetCommandArgs } from './get.js';
import { MvccByKeyCommand, type MvccByKeyCommandArgs } from './mvcc-by-key.js';
import { PessimisticRollbackCommand, type PessimisticRollbackCommandArgs } from './pessimistic-rollback.js';
import { PrewriteCommand, type PrewriteCommandArgs } from './prewrite.js';
import { ResolveLockCommand, type ResolveLockCommandArgs } from './resolve-lock.js';
import { RollbackCommand, type RollbackCommandArgs } from './rollback.js';
import { ScanLockCommand, type ScanLockCommandArgs } from './scan-lock.js';
import { ScanCommand, type ScanCommandArgs } from './scan.js';
import { TxnHeartBeatCommand, type TxnHeartBeatCommandArgs } from './txn-heart-beat.js';

export type TxnCommandRegistry = CommandRegistry<TxnCommandContext>;

export const TXN_COMMANDS_OWNER = '@flashkv/core';

/** Registers the built-in commands into `registry` (a new one by default) and returns it. */
export function registerTxnCommands(registry: TxnCommandRegistry = new CommandRegistry<TxnCommandContext>()): TxnCommandRegistry {
  const owner = { owner: TXN_COMMANDS_OWNER };
  registry.register('get', (a) => new GetCommand(a as GetCommandArgs), owner);
  registry.register('batchGet', (a) => new BatchGetCommand(a as BatchGetCommandArgs), owner);
  registry.register('scan', (a) => new ScanCommand(a as ScanCommandArgs), owner);
  registry.register('scanLock', (a) => new ScanLockCommand(a as ScanLockCommandArgs), owner);
  registry.register('mvccByKey', (a) => new MvccByKeyCommand(a as MvccByKeyCommandArgs), owner);
  registry.register('prewrite', (a) => new PrewriteCommand(a as PrewriteCommandArgs), owner);
  registry.register('commit', (a) => new CommitCommand(a as CommitCommandArgs), owner);
  registry.register('rollback', (a) => new RollbackCommand(a as RollbackCommandArgs), owner);
  registry.register('cleanup', (a) => new CleanupCommand(a as CleanupCommandArgs), owner);
  registry.register('checkTxnStatus', (a) => new CheckTxnStatusCommand(a as CheckTxnStatusCommandArgs), owner);
  registry.register('resolveLock', (a) => new ResolveLockCommand(a as ResolveLockCommandArgs), owner);
  registry.register('acquirePessimisticLock', (a) => new AcquirePessimisticLockCommand(a as AcquirePessimisticLockCommandArgs), owner);
  registry.register('pessimisticRollback', (a) => new PessimisticRollbackCommand(a as PessimisticRollbackCommandArgs), owner);
  registry.register('txnHeartBeat', (a) => new TxnHeartBeatCommand(a as TxnHeartBeatCommandArgs), owner);
  registry.register('gc', (a) => new GcCommand(a as GcCommandArgs), owner);
  return registry;
}
