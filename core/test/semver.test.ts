import test from 'ava';
import { parseRange, parseVersion } from '@flashkv/core';

test('versions parse as MAJOR.MINOR.PATCH with an optional pre-release', (t) => {
  t.deepEqual(parseVersion('1.2.3'), { major: 1, minor: 2, patch: 3, pre: '' });
  t.deepEqual(parseVersion('0.1.0-rc.1'), { major: 0, minor: 1, patch: 0, pre: 'rc.1' });
  for (const bad of ['1.2', '01.2.3', 'v1.2.3', '1.2.3.4', '', 'x']) t.is(parseVersion(bad), undefined, bad);
});

test('ranges follow npm semantics for ^, ~ and comparators', (t) => {
  const cases: [string, string, boolean][] = [
    ['^1.2.3', '1.9.0', true],
    ['^1.2.3', '2.0.0', false],
    ['^1.2.3', '1.2.2', false],
    ['^0.1.0', '0.1.7', true],
    ['^0.1.0', '0.2.0', false],
    ['^0.0.3', '0.0.4', false],
    ['~1.2.3', '1.2.9', true],
    ['~1.2.3', '1.3.0', false],
    ['>=1.0.0 <2.0.0', '1.5.0', true],
    ['>=1.0.0 <2.0.0', '2.0.0', false],
    ['1.0.0', '1.0.0', true],
    ['*', '7.7.7', true],
    ['>=1.0.0', '1.0.0-rc.1', false],
  ];
  for (const [range, v, want] of cases) t.is(parseRange(range)!(v), want, `${v} in ${range}`);
  t.is(parseRange('^x'), undefined);
  t.is(parseRange(''), undefined);
});
