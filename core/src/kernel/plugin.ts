import type { InjectionToken } from 'tsyringe';
import type { EventCatalogue } from './events.js';

/** A token a plugin depends on, optionally with a semver range its provider's version must satisfy. */
export type Requirement = InjectionToken<unknown> | { readonly token: InjectionToken<unknown>; readonly range: string };

export type Constructor<T> = new (...args: never[]) => T;

/** What a plugin sees while it registers, starts and stops. */
export interface PluginContext {
  /** The plugin this context belongs to. */
  readonly plugin: { readonly name: string; readonly version: string };
  readonly events: EventCatalogue;
  /** Registers the instance behind a token this plugin declared in `provides`. */
  provide<T>(token: InjectionToken<T>, value: T): void;
  /**
   * Registers a class behind a token this plugin declared in `provides`; the kernel's container
   * builds one instance on first resolve, injecting its constructor parameters (mark the class
   * `@injectable()` and interface-typed parameters `@inject(TOKEN)`).
   */
  provideClass<T>(token: InjectionToken<T>, cls: Constructor<T>): void;
  /** Resolves a token this plugin declared in `requires`, `optional` or `provides`. */
  resolve<T>(token: InjectionToken<T>): T;
  /** Like resolve, for an `optional` token: undefined when no plugin provides it. */
  tryResolve<T>(token: InjectionToken<T>): T | undefined;
}

/**
 * A plugin manifest (DESIGN.md section 2). The kernel checks every manifest, and the graph they
 * form, before it runs any plugin code.
 */
export interface PluginDefinition {
  /** Unique within a kernel; npm-style names are recommended (`@acme/flashkv-audit`). */
  readonly name: string;
  /** The plugin's own semver version; other plugins may require a range of it. */
  readonly version: string;
  /** Semver range of @flashkv/core this plugin was written against; checked at start. */
  readonly core?: string;
  readonly requires?: readonly Requirement[];
  /** Tokens used when present; they order start-up like requires but may be missing. */
  readonly optional?: readonly InjectionToken<unknown>[];
  readonly provides?: readonly InjectionToken<unknown>[];
  /** Registers what the plugin provides. Runs after every provider it requires has started. */
  register(ctx: PluginContext): void | Promise<void>;
  start?(ctx: PluginContext): void | Promise<void>;
  stop?(ctx: PluginContext): void | Promise<void>;
}

export type Plugin = Readonly<PluginDefinition> & { readonly [PLUGIN_BRAND]: true };

declare const PLUGIN_BRAND: unique symbol;

/**
 * Declares a plugin. Only the shape is checked here (a TypeError for a programmer mistake);
 * the graph checks happen in `Kernel.start`, which reports coded KvErrors.
 */
export function definePlugin(def: PluginDefinition): Plugin {
  if (def === null || typeof def !== 'object') throw new TypeError('definePlugin expects a manifest object');
  if (typeof def.name !== 'string' || def.name.trim() === '') throw new TypeError('a plugin needs a non-empty string name');
  if (typeof def.version !== 'string') throw new TypeError(`plugin ${def.name}: version must be a string`);
  if (typeof def.register !== 'function') throw new TypeError(`plugin ${def.name}: register(ctx) must be a function`);
  for (const hook of ['start', 'stop'] as const) {
    if (def[hook] !== undefined && typeof def[hook] !== 'function') throw new TypeError(`plugin ${def.name}: ${hook} must be a function`);
  }
  return Object.freeze({ ...def }) as Plugin;
}

export function requirementToken(r: Requirement): InjectionToken<unknown> {
  return typeof r === 'object' && r !== null && 'token' in r ? r.token : r;
}

export function tokenName(t: InjectionToken<unknown>): string {
  if (typeof t === 'symbol') return t.description ?? t.toString();
  if (typeof t === 'string') return t;
  if (typeof t === 'function') return t.name || 'anonymous class';
  return String(t);
}
