import { container as rootContainer, Lifecycle, type DependencyContainer, type InjectionToken } from 'tsyringe';
import { KvError } from '../errors.js';
import { EventCatalogue } from './events.js';
import { planKernel } from './plan.js';
import { requirementToken, tokenName, type Constructor, type Plugin, type PluginContext } from './plugin.js';
import { EVENTS, STORAGE, TXN_CLIENT } from './tokens.js';
import type { Storage } from '../txn/storage/storage.js';
import type { TxnClient } from '../txn/client/txn-client.js';

export interface KernelOptions {
  readonly plugins: readonly Plugin[];
}

export type KernelState = 'running' | 'stopping' | 'stopped';

/**
 * Composes plugins into one running store (DESIGN.md section 2). Each kernel owns one tsyringe
 * child container and one event catalogue, so several kernels in one process share nothing.
 */
export class Kernel {
  private status: KernelState = 'running';
  private stopping: Promise<void> | undefined;

  private constructor(
    private readonly di: DependencyContainer,
    readonly events: EventCatalogue,
    private readonly started: { plugin: Plugin; ctx: PluginContext }[],
  ) {}

  /**
   * Checks every manifest first (nothing runs if any check fails), then registers and starts
   * the plugins in dependency order. If one fails to start, the ones already started are
   * stopped in reverse and the error (PLUGIN_START_FAILED, naming the plugin) is thrown.
   */
  static async start(options: KernelOptions): Promise<Kernel> {
    if (options === null || typeof options !== 'object') throw new KvError('PLUGIN_INVALID', 'Kernel.start expects { plugins: [...] }');
    const plan = planKernel(options.plugins, [EVENTS]);
    const di = rootContainer.createChildContainer();
    const events = new EventCatalogue();
    di.register(EVENTS, { useValue: events });
    const started: { plugin: Plugin; ctx: PluginContext }[] = [];
    const kernel = new Kernel(di, events, started);
    for (const plugin of plan.order) {
      const ctx = makeContext(plugin, di, events);
      let phase = 'register';
      try {
        await plugin.register(ctx);
        for (const t of plugin.provides ?? []) {
          if (!di.isRegistered(t, false)) {
            throw new KvError('PLUGIN_INVALID', `plugin ${plugin.name} declares that it provides ${tokenName(t)} but did not provide it in register()`, {
              plugin: plugin.name,
              token: tokenName(t),
            });
          }
        }
        phase = 'start';
        await plugin.start?.(ctx);
      } catch (cause) {
        await kernel.stopStarted();
        events.close();
        if (cause instanceof KvError && cause.code === 'PLUGIN_INVALID') throw cause;
        const why = cause instanceof Error ? cause.message : String(cause);
        throw new KvError('PLUGIN_START_FAILED', `plugin ${plugin.name} failed in ${phase}: ${why}`, { plugin: plugin.name, phase }, { cause });
      }
      started.push({ plugin, ctx });
    }
    return kernel;
  }

  get state(): KernelState {
    return this.status;
  }

  /** Plugin names in start order. */
  get plugins(): readonly string[] {
    return this.started.map((s) => s.plugin.name);
  }

  has(token: InjectionToken<unknown>): boolean {
    return this.di.isRegistered(token, false);
  }

  /** The instance behind a token; PLUGIN_MISSING if no plugin in this kernel provides it. */
  resolve<T>(token: InjectionToken<T>): T {
    if (this.status === 'stopped') throw new KvError('KERNEL_STATE', 'the kernel is stopped');
    if (!this.di.isRegistered(token, false)) {
      throw new KvError('PLUGIN_MISSING', `no plugin provides ${tokenName(token)}; add one to Kernel.start({ plugins })`, { token: tokenName(token) });
    }
    return this.di.resolve(token);
  }

  /** The Storage API (explicit timestamps); PLUGIN_MISSING without the `storage()` plugin. */
  get storage(): Storage {
    return this.resolve(STORAGE);
  }

  /** The transaction client; PLUGIN_MISSING without the `txnClient()` plugin. */
  client(): TxnClient {
    return this.resolve(TXN_CLIENT);
  }

  /** Stops plugins in reverse start order. Every plugin's stop runs even if an earlier one throws. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.status = 'stopping';
      const errors = await this.stopStarted();
      this.events.close();
      await this.di.dispose();
      this.status = 'stopped';
      if (errors.length > 0) {
        const names = errors.map((e) => e.plugin).join(', ');
        throw new KvError('PLUGIN_STOP_FAILED', `plugins failed to stop cleanly: ${names}`, { plugins: errors.map((e) => e.plugin) }, { cause: errors[0]!.error });
      }
    })();
    return this.stopping;
  }

  private async stopStarted(): Promise<{ plugin: string; error: unknown }[]> {
    const errors: { plugin: string; error: unknown }[] = [];
    while (this.started.length > 0) {
      const { plugin, ctx } = this.started.pop()!;
      try {
        await plugin.stop?.(ctx);
      } catch (error) {
        errors.push({ plugin: plugin.name, error });
      }
    }
    return errors;
  }
}

function makeContext(plugin: Plugin, di: DependencyContainer, events: EventCatalogue): PluginContext {
  const provides = new Set(plugin.provides ?? []);
  const readable = new Set<InjectionToken<unknown>>([EVENTS, ...provides, ...(plugin.optional ?? []), ...(plugin.requires ?? []).map(requirementToken)]);
  const checkProvide = (token: InjectionToken<unknown>) => {
    if (!provides.has(token)) {
      throw new KvError('PLUGIN_INVALID', `plugin ${plugin.name} provided ${tokenName(token)} without declaring it in provides`, { plugin: plugin.name, token: tokenName(token) });
    }
    if (di.isRegistered(token, false)) {
      throw new KvError('PLUGIN_INVALID', `plugin ${plugin.name} provided ${tokenName(token)} twice`, { plugin: plugin.name, token: tokenName(token) });
    }
  };
  const checkRead = (token: InjectionToken<unknown>) => {
    if (!readable.has(token)) {
      throw new KvError('PLUGIN_INVALID', `plugin ${plugin.name} resolved ${tokenName(token)} without declaring it in requires or optional`, {
        plugin: plugin.name,
        token: tokenName(token),
      });
    }
  };
  return {
    plugin: { name: plugin.name, version: plugin.version },
    events,
    provide<T>(token: InjectionToken<T>, value: T) {
      checkProvide(token);
      di.register(token, { useValue: value });
    },
    provideClass<T>(token: InjectionToken<T>, cls: Constructor<T>) {
      checkProvide(token);
      if (typeof cls !== 'function') throw new TypeError(`plugin ${plugin.name}: provideClass needs a class`);
      di.register(token, { useClass: cls as unknown as new (...a: unknown[]) => T }, { lifecycle: Lifecycle.ContainerScoped });
    },
    resolve<T>(token: InjectionToken<T>): T {
      checkRead(token);
      if (!di.isRegistered(token, false)) {
        throw new KvError('PLUGIN_MISSING', `plugin ${plugin.name} needs ${tokenName(token)}, but nothing provides it`, { plugin: plugin.name, token: tokenName(token) });
      }
      return di.resolve(token);
    },
    tryResolve<T>(token: InjectionToken<T>): T | undefined {
      checkRead(token);
      return di.isRegistered(token, false) ? di.resolve(token) : undefined;
    },
  };
}
