import 'reflect-metadata';
import test from 'ava';
import { container, inject, injectable } from 'tsyringe';
import { definePlugin, Kernel, KvError, EVENTS, ENGINE, CORE_VERSION, type Plugin, type PluginContext, type KvErrorCode } from '@flashkv/core';

const A = Symbol('test.a');
const B = Symbol('test.b');
const C = Symbol('test.c');

/** A plugin that records every lifecycle call into `log`. */
function recorder(log: string[], name: string, opts: Partial<Pick<Plugin, 'requires' | 'provides' | 'optional' | 'version' | 'core'>> & { fail?: 'register' | 'start' | 'stop' } = {}): Plugin {
  return definePlugin({
    name,
    version: opts.version ?? '1.0.0',
    ...(opts.core ? { core: opts.core } : {}),
    requires: opts.requires ?? [],
    optional: opts.optional ?? [],
    provides: opts.provides ?? [],
    register(ctx) {
      log.push(`register ${name}`);
      if (opts.fail === 'register') throw new Error(`${name} register boom`);
      for (const t of opts.provides ?? []) ctx.provide(t, { from: name });
    },
    start() {
      log.push(`start ${name}`);
      if (opts.fail === 'start') throw new Error(`${name} start boom`);
    },
    stop() {
      log.push(`stop ${name}`);
      if (opts.fail === 'stop') throw new Error(`${name} stop boom`);
    },
  });
}

async function mustFailStart(t: import('ava').ExecutionContext, plugins: Plugin[], code: KvErrorCode, message: RegExp): Promise<KvError> {
  const err = await t.throwsAsync(Kernel.start({ plugins }), { instanceOf: KvError });
  t.is(err!.code, code, err!.message);
  t.regex(err!.message, message);
  return err as KvError;
}

test('plugins start in dependency order, ties in registration order, and stop in reverse', async (t) => {
  const log: string[] = [];
  const kernel = await Kernel.start({
    plugins: [
      recorder(log, 'consumer', { requires: [A, B] }),
      recorder(log, 'b-provider', { requires: [A], provides: [B] }),
      recorder(log, 'a-provider', { provides: [A] }),
      recorder(log, 'standalone'),
    ],
  });
  t.deepEqual(kernel.plugins, ['a-provider', 'b-provider', 'consumer', 'standalone']);
  t.deepEqual(log, ['register a-provider', 'start a-provider', 'register b-provider', 'start b-provider', 'register consumer', 'start consumer', 'register standalone', 'start standalone']);
  t.deepEqual(kernel.resolve(A), { from: 'a-provider' });
  log.length = 0;
  await kernel.stop();
  t.deepEqual(log, ['stop standalone', 'stop consumer', 'stop b-provider', 'stop a-provider']);
  t.is(kernel.state, 'stopped');
});

test('manifest errors are coded, name the plugin, and run no plugin code', async (t) => {
  const log: string[] = [];
  await mustFailStart(t, [recorder(log, 'needs-a', { requires: [A] })], 'PROVIDER_MISSING', /needs-a requires test\.a/);
  await mustFailStart(t, [recorder(log, 'one', { provides: [A] }), recorder(log, 'two', { provides: [A] })], 'PROVIDER_DUPLICATE', /test\.a is provided by both one and two/);
  await mustFailStart(t, [recorder(log, 'same'), recorder(log, 'same')], 'PLUGIN_DUPLICATE', /same is listed twice/);
  await mustFailStart(t, [recorder(log, 'bad-version', { version: 'one' })], 'PLUGIN_VERSION', /bad-version has version "one"/);
  await mustFailStart(t, [recorder(log, 'future', { core: '^9.0.0' })], 'PLUGIN_VERSION', new RegExp(`future needs @flashkv/core \\^9\\.0\\.0, but this is ${CORE_VERSION.replace(/\./g, '\\.')}`));
  await mustFailStart(t, [recorder(log, 'old-a', { provides: [A], version: '1.4.0' }), recorder(log, 'picky', { requires: [{ token: A, range: '^2.0.0' }] })], 'PLUGIN_VERSION', /picky requires test\.a \^2\.0\.0, but old-a is 1\.4\.0/);
  await mustFailStart(t, [recorder(log, 'kernel-thief', { provides: [EVENTS] })], 'PROVIDER_DUPLICATE', /kernel itself provides/);
  const cycle = await mustFailStart(
    t,
    [recorder(log, 'x', { requires: [C], provides: [A] }), recorder(log, 'y', { requires: [A], provides: [B] }), recorder(log, 'z', { requires: [B], provides: [C] })],
    'PLUGIN_CYCLE',
    /cycle: x -> z -> y -> x/,
  );
  t.is(cycle.details['plugin'], 'x');
  await mustFailStart(t, [{ name: 'raw', version: '1.0.0' } as unknown as Plugin], 'PLUGIN_INVALID', /raw has no register/);
  await mustFailStart(t, [null as unknown as Plugin], 'PLUGIN_INVALID', /plugin #0 is not a plugin manifest/);
  t.deepEqual(log, [], 'no register/start ran for any rejected kernel');
});

test('a satisfied version range and an optional dependency order start-up', async (t) => {
  const log: string[] = [];
  const kernel = await Kernel.start({
    plugins: [recorder(log, 'user', { requires: [{ token: A, range: '>=1.2.0 <2.0.0' }], optional: [B, C] }), recorder(log, 'b', { provides: [B] }), recorder(log, 'a', { provides: [A], version: '1.3.1' })],
  });
  t.deepEqual(kernel.plugins, ['a', 'b', 'user']);
  await kernel.stop();
});

test('a plugin may only provide and resolve what it declared, and must provide what it declared', async (t) => {
  const undeclaredProvide = definePlugin({ name: 'sneaky', version: '1.0.0', register: (ctx) => ctx.provide(A, 1) });
  await mustFailStart(t, [undeclaredProvide], 'PLUGIN_INVALID', /sneaky provided test\.a without declaring it/);
  const undeclaredResolve = definePlugin({ name: 'nosy', version: '1.0.0', register: (ctx) => void ctx.resolve(A) });
  await mustFailStart(t, [recorder([], 'a', { provides: [A] }), undeclaredResolve], 'PLUGIN_INVALID', /nosy resolved test\.a without declaring it/);
  const lazy = definePlugin({ name: 'lazy', version: '1.0.0', provides: [A], register: () => undefined });
  await mustFailStart(t, [lazy], 'PLUGIN_INVALID', /lazy declares that it provides test\.a but did not provide it/);
  let seen: unknown = 'unset';
  const opt = definePlugin({ name: 'opt', version: '1.0.0', optional: [B], register: (ctx) => void (seen = ctx.tryResolve(B)) });
  const k = await Kernel.start({ plugins: [opt] });
  t.is(seen, undefined);
  await k.stop();
});

test('a failing start stops the already-started plugins in reverse and names the culprit', async (t) => {
  const log: string[] = [];
  const err = await mustFailStart(t, [recorder(log, 'first', { provides: [A] }), recorder(log, 'second', { requires: [A] }), recorder(log, 'broken', { requires: [A], fail: 'start' }), recorder(log, 'never')], 'PLUGIN_START_FAILED', /plugin broken failed in start: broken start boom/);
  t.is(err.details['plugin'], 'broken');
  t.true(err.cause instanceof Error);
  t.deepEqual(log, ['register first', 'start first', 'register second', 'start second', 'register broken', 'start broken', 'stop second', 'stop first']);
});

test('every stop runs even when one throws, and the failure is reported', async (t) => {
  const log: string[] = [];
  const kernel = await Kernel.start({ plugins: [recorder(log, 'p1'), recorder(log, 'p2', { fail: 'stop' }), recorder(log, 'p3')] });
  log.length = 0;
  const err = await t.throwsAsync(kernel.stop(), { instanceOf: KvError });
  t.is(err!.code, 'PLUGIN_STOP_FAILED');
  t.regex(err!.message, /p2/);
  t.deepEqual(log, ['stop p3', 'stop p2', 'stop p1']);
  t.is(kernel.state, 'stopped');
});

test('two kernels in one process share nothing, and the global container is untouched', async (t) => {
  const k1 = await Kernel.start({ plugins: [definePlugin({ name: 'e', version: '1.0.0', provides: [ENGINE], register: (ctx) => ctx.provide(ENGINE, 'one' as never) })] });
  const k2 = await Kernel.start({ plugins: [definePlugin({ name: 'e', version: '1.0.0', provides: [ENGINE], register: (ctx) => ctx.provide(ENGINE, 'two' as never) })] });
  t.is(k1.resolve(ENGINE) as unknown, 'one');
  t.is(k2.resolve(ENGINE) as unknown, 'two');
  t.not(k1.events, k2.events);
  t.false(container.isRegistered(ENGINE, true));
  t.false(container.isRegistered(EVENTS, true));
  await k1.stop();
  t.is(k2.resolve(ENGINE) as unknown, 'two', 'stopping one kernel leaves the other running');
  await k2.stop();
  t.throws(() => k2.resolve(ENGINE), { message: /stopped/ });
});

test('kernel.resolve of a token nobody provides is PLUGIN_MISSING', async (t) => {
  const kernel = await Kernel.start({ plugins: [] });
  const err = t.throws(() => kernel.resolve(ENGINE), { instanceOf: KvError });
  t.is(err!.code, 'PLUGIN_MISSING');
  t.regex(err!.message, /no plugin provides flashkv\.engine/);
  t.is(kernel.resolve(EVENTS), kernel.events);
  await kernel.stop();
});

interface Greeter {
  greet(): string;
}
const GREETER = Symbol('test.greeter');
const NAME = Symbol('test.name');

@injectable()
class NameGreeter implements Greeter {
  constructor(@inject(NAME) private readonly name: string) {}
  greet(): string {
    return `hello ${this.name}`;
  }
}

test('provideClass builds one instance per kernel with constructor injection', async (t) => {
  const make = (name: string) => [
    definePlugin({ name: 'name', version: '1.0.0', provides: [NAME], register: (ctx) => ctx.provide(NAME, name) }),
    definePlugin({ name: 'greeter', version: '1.0.0', requires: [NAME], provides: [GREETER], register: (ctx: PluginContext) => ctx.provideClass<Greeter>(GREETER, NameGreeter) }),
  ];
  const k1 = await Kernel.start({ plugins: make('ada') });
  const k2 = await Kernel.start({ plugins: make('bob') });
  t.is(k1.resolve<Greeter>(GREETER).greet(), 'hello ada');
  t.is(k2.resolve<Greeter>(GREETER).greet(), 'hello bob');
  t.is(k1.resolve(GREETER), k1.resolve(GREETER), 'one instance per kernel');
  await Promise.all([k1.stop(), k2.stop()]);
});

test('definePlugin rejects malformed manifests with a TypeError', (t) => {
  t.throws(() => definePlugin({ name: '', version: '1.0.0', register() {} }), { instanceOf: TypeError });
  t.throws(() => definePlugin({ name: 'x', version: '1.0.0' } as never), { instanceOf: TypeError, message: /register/ });
  t.throws(() => definePlugin({ name: 'x', version: '1.0.0', register() {}, start: 5 } as never), { instanceOf: TypeError, message: /start/ });
});
