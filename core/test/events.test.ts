import test from 'ava';
import { EventCatalogue, type AppliedEvent, type ObserverError } from '@flashkv/core';

const applied = (regionId: number): AppliedEvent => ({ regionId, index: BigInt(regionId), flags: new Set(), modifies: [] });

test('observers run in priority order, before plain subscribers', (t) => {
  const ev = new EventCatalogue();
  const log: string[] = [];
  ev.applied$.subscribe((e) => log.push(`subscriber ${e.regionId}`));
  ev.observe('applied', (e) => log.push(`resolved-ts ${e.regionId}`), { priority: 20, owner: 'resolved-ts' });
  ev.observe('applied', (e) => log.push(`unordered ${e.regionId}`), { owner: 'metrics' });
  ev.observe('applied', (e) => log.push(`cdc ${e.regionId}`), { priority: 10, owner: 'cdc' });
  ev.emit('applied', applied(7));
  t.deepEqual(log, ['cdc 7', 'resolved-ts 7', 'unordered 7', 'subscriber 7']);
});

test('two observers of one event cannot share a priority', (t) => {
  const ev = new EventCatalogue();
  ev.observe('resolvedTs', () => undefined, { priority: 1, owner: 'a' });
  t.throws(() => ev.observe('resolvedTs', () => undefined, { priority: 1, owner: 'b' }), { message: /b and a both asked for 1/ });
  t.notThrows(() => ev.observe('applied', () => undefined, { priority: 1, owner: 'b' }), 'priorities are per event');
});

test('a throwing observer does not stop the others nor reach the emitter', (t) => {
  const ev = new EventCatalogue();
  const errors: ObserverError[] = [];
  ev.observerErrors$.subscribe((e) => errors.push(e));
  const seen: number[] = [];
  ev.observe('applied', () => {
    throw new Error('observer bug');
  }, { priority: 1, owner: 'buggy' });
  ev.observe('applied', (e) => seen.push(e.regionId), { priority: 2, owner: 'good' });
  t.notThrows(() => ev.emit('applied', applied(3)));
  t.deepEqual(seen, [3]);
  t.is(errors.length, 1);
  t.is(errors[0]!.owner, 'buggy');
  t.is(errors[0]!.event, 'applied');
});

test('unregister removes an observer; close completes streams and drops later emits', (t) => {
  const ev = new EventCatalogue();
  const seen: number[] = [];
  const reg = ev.observe('applied', (e) => seen.push(e.regionId), { priority: 5 });
  ev.emit('applied', applied(1));
  reg.unregister();
  ev.emit('applied', applied(2));
  t.deepEqual(seen, [1]);
  let completed = false;
  const got: number[] = [];
  ev.applied$.subscribe({ next: (e) => got.push(e.regionId), complete: () => (completed = true) });
  ev.close();
  ev.emit('applied', applied(3));
  t.true(completed);
  t.deepEqual(got, []);
});

test('unknown event names are programmer errors', (t) => {
  const ev = new EventCatalogue();
  t.throws(() => ev.observe('nope' as never, () => undefined), { instanceOf: TypeError, message: /unknown event nope/ });
  t.throws(() => ev.stream('nope' as never), { instanceOf: TypeError });
});
