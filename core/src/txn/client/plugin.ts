import { definePlugin, type Plugin } from '../../kernel/plugin.js';
import { CORE_VERSION } from '../../kernel/plan.js';
import { STORAGE, TXN_CLIENT } from '../../kernel/tokens.js';
import type { Sleep } from './backoff.js';
import { timerSleep } from '../../runtime/timer-sleep.js';
import { TxnClient } from './txn-client.js';

export interface TxnClientPluginOptions {
  /** Default: a wall-clock timer. Tests pass a simulated sleeper. */
  readonly sleep?: Sleep;
  readonly seed?: number;
  readonly lockTtlMs?: number;
  readonly onePc?: boolean;
  readonly asyncSecondaries?: boolean;
  /** See TxnClientOptions: heartbeat interval (0: off), its sleeper, the txn age it stops at, the optimistic txn size it starts at. */
  readonly heartbeatIntervalMs?: number;
  readonly heartbeatSleep?: Sleep;
  readonly maxTxnTtlMs?: number;
  readonly optimisticHeartbeatBytes?: number;
}

/** The TxnClient as a plugin: requires STORAGE, provides TXN_CLIENT (`kernel.client()`). At stop, ends every heartbeat and waits for background secondary commits. */
export function txnClient(options: TxnClientPluginOptions = {}): Plugin {
  let client: TxnClient | undefined;
  return definePlugin({
    name: '@flashkv/core:txn-client',
    version: CORE_VERSION,
    requires: [STORAGE],
    provides: [TXN_CLIENT],
    register(ctx) {
      client = new TxnClient({ storage: ctx.resolve(STORAGE), ...options, sleep: options.sleep ?? timerSleep });
      ctx.provide(TXN_CLIENT, client);
    },
    async stop() {
      await client?.close();
    },
  });
}
