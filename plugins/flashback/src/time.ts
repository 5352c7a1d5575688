/**
 * `time` of a flashback (FLASHBACK.md b.1, TiDB's `TO TIMESTAMP 'YYYY-MM-DD HH:MM:SS'`): a Date, or
 * that string read as local time. A string that names no real moment (month 13, Feb 30) is
 * INVALID_ARGUMENT rather than silently rolled over as `Date` would.
 */
import { KvError } from '@flashkv/core';

const PATTERN = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/;

export function parseFlashbackTime(time: Date | string): Date {
  if (time instanceof Date) {
    if (Number.isNaN(time.getTime())) throw new KvError('INVALID_ARGUMENT', 'time is an invalid Date', {});
    return time;
  }
  if (typeof time !== 'string') throw new TypeError(`time must be a Date or 'YYYY-MM-DD HH:MM:SS', got ${typeof time}`);
  const m = PATTERN.exec(time);
  if (m === null) throw new KvError('INVALID_ARGUMENT', `time ${JSON.stringify(time)} is not 'YYYY-MM-DD HH:MM:SS'`, { time });
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  const date = new Date(y, mo - 1, d, h, mi, s);
  if (date.getFullYear() !== y || date.getMonth() !== mo - 1 || date.getDate() !== d || date.getHours() !== h || date.getMinutes() !== mi || date.getSeconds() !== s) {
    throw new KvError('INVALID_ARGUMENT', `time ${JSON.stringify(time)} is not a valid local time`, { time });
  }
  return date;
}
