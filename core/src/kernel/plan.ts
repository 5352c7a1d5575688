import type { InjectionToken } from 'tsyringe';
import { KvError } from '../errors.js';
import { requirementToken, tokenName, type Plugin } from './plugin.js';
import { parseRange, parseVersion } from './semver.js';

/** The version of @flashkv/core that plugins' `core` ranges are checked against. */
export const CORE_VERSION = '0.1.0';

export interface KernelPlan {
  /** Plugins in start order: every provider before the plugins that require it; ties keep the given order. */
  readonly order: readonly Plugin[];
  /** Token -> the plugin that provides it. */
  readonly providers: ReadonlyMap<InjectionToken<unknown>, Plugin>;
}

/**
 * Checks every manifest and the graph they form, without running any plugin code
 * (STYLE.md habit 8), and returns the start order. Each failure is a KvError with its own code
 * that names the plugin: PLUGIN_INVALID, PLUGIN_DUPLICATE, PLUGIN_VERSION, PROVIDER_DUPLICATE,
 * PROVIDER_MISSING, PLUGIN_CYCLE.
 */
export function planKernel(plugins: readonly unknown[], reserved: readonly InjectionToken<unknown>[] = []): KernelPlan {
  if (!Array.isArray(plugins)) throw new KvError('PLUGIN_INVALID', 'Kernel.start expects { plugins: [...] }');
  const list: Plugin[] = [];
  const names = new Set<string>();
  plugins.forEach((p, i) => {
    const where = `plugin #${i}`;
    if (p === null || typeof p !== 'object') throw new KvError('PLUGIN_INVALID', `${where} is not a plugin manifest (got ${p === null ? 'null' : typeof p})`, { index: i });
    const m = p as Partial<Plugin>;
    if (typeof m.name !== 'string' || m.name.trim() === '') throw new KvError('PLUGIN_INVALID', `${where} has no name`, { index: i });
    if (typeof m.register !== 'function') throw new KvError('PLUGIN_INVALID', `plugin ${m.name} has no register(ctx) function`, { plugin: m.name });
    for (const field of ['requires', 'optional', 'provides'] as const) {
      if (m[field] !== undefined && !Array.isArray(m[field])) throw new KvError('PLUGIN_INVALID', `plugin ${m.name}: ${field} must be an array of tokens`, { plugin: m.name });
    }
    if (names.has(m.name)) throw new KvError('PLUGIN_DUPLICATE', `plugin ${m.name} is listed twice`, { plugin: m.name });
    names.add(m.name);
    if (typeof m.version !== 'string' || !parseVersion(m.version)) {
      throw new KvError('PLUGIN_VERSION', `plugin ${m.name} has version ${JSON.stringify(m.version)}, which is not a semver version (MAJOR.MINOR.PATCH)`, { plugin: m.name });
    }
    if (m.core !== undefined) {
      const ok = typeof m.core === 'string' ? parseRange(m.core) : undefined;
      if (!ok) throw new KvError('PLUGIN_VERSION', `plugin ${m.name} asks for core ${JSON.stringify(m.core)}, which is not a semver range`, { plugin: m.name });
      if (!ok(CORE_VERSION)) {
        throw new KvError('PLUGIN_VERSION', `plugin ${m.name} needs @flashkv/core ${m.core}, but this is ${CORE_VERSION}`, { plugin: m.name, core: CORE_VERSION });
      }
    }
    list.push(p as Plugin);
  });

  const providers = new Map<InjectionToken<unknown>, Plugin>();
  for (const p of list) {
    for (const t of p.provides ?? []) {
      if (reserved.includes(t)) {
        throw new KvError('PROVIDER_DUPLICATE', `plugin ${p.name} provides ${tokenName(t)}, which the kernel itself provides`, { plugin: p.name, token: tokenName(t) });
      }
      const other = providers.get(t);
      if (other && other !== p) {
        throw new KvError('PROVIDER_DUPLICATE', `${tokenName(t)} is provided by both ${other.name} and ${p.name}; a kernel takes one provider per token`, {
          plugin: p.name,
          other: other.name,
          token: tokenName(t),
        });
      }
      providers.set(t, p);
    }
  }

  // Edges: provider -> dependant.
  const deps = new Map<Plugin, Plugin[]>();
  for (const p of list) {
    const mine: Plugin[] = [];
    for (const r of p.requires ?? []) {
      const t = requirementToken(r);
      if (reserved.includes(t)) continue;
      const prov = providers.get(t);
      if (!prov) {
        throw new KvError('PROVIDER_MISSING', `plugin ${p.name} requires ${tokenName(t)}, but no plugin provides it`, { plugin: p.name, token: tokenName(t) });
      }
      if (typeof r === 'object' && r !== null && 'range' in r) {
        const ok = typeof r.range === 'string' ? parseRange(r.range) : undefined;
        if (!ok) throw new KvError('PLUGIN_VERSION', `plugin ${p.name} requires ${tokenName(t)} at ${JSON.stringify(r.range)}, which is not a semver range`, { plugin: p.name });
        if (!ok(prov.version)) {
          throw new KvError('PLUGIN_VERSION', `plugin ${p.name} requires ${tokenName(t)} ${r.range}, but ${prov.name} is ${prov.version}`, {
            plugin: p.name,
            provider: prov.name,
            token: tokenName(t),
          });
        }
      }
      if (prov !== p) mine.push(prov);
    }
    for (const t of p.optional ?? []) {
      const prov = providers.get(t);
      if (prov && prov !== p) mine.push(prov);
    }
    deps.set(p, mine);
  }

  // Depth-first with colours finds a cycle and its path; emitting in post-order over the plugins
  // in their given order keeps ties in registration order.
  const order: Plugin[] = [];
  const state = new Map<Plugin, 'visiting' | 'done'>();
  const stack: Plugin[] = [];
  const visit = (p: Plugin): void => {
    const s = state.get(p);
    if (s === 'done') return;
    if (s === 'visiting') {
      const from = stack.indexOf(p);
      const path = [...stack.slice(from), p].map((x) => x.name).join(' -> ');
      throw new KvError('PLUGIN_CYCLE', `plugins depend on each other in a cycle: ${path}`, { plugin: p.name, cycle: path });
    }
    state.set(p, 'visiting');
    stack.push(p);
    for (const d of deps.get(p) ?? []) visit(d);
    stack.pop();
    state.set(p, 'done');
    order.push(p);
  };
  for (const p of list) visit(p);
  return { order, providers };
}
