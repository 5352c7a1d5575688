import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { KvError } from '@flashkv/core';
import { LsmEngine } from '../src/engine.js';
import { dec, enc, mustTempDir } from './helpers.js';

const CHILD = fileURLToPath(new URL('./lock-child.js', import.meta.url));

/** Starts lock-child.js and resolves with it and its first line of output. */
function child(dir: string, mode: 'hold' | 'try'): Promise<{ proc: ChildProcess; line: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [CHILD, dir, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve({ proc, line: out.slice(0, nl) });
    });
    proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    proc.on('exit', (code) => {
      if (!out.includes('\n')) reject(new Error(`lock child (${mode}) exited with ${code} before reporting: ${err}`));
    });
  });
}

function exited(proc: ChildProcess): Promise<void> {
  return new Promise((resolve) => (proc.exitCode !== null || proc.signalCode !== null ? resolve() : proc.once('exit', () => resolve())));
}

function isLocked(e: unknown): boolean {
  return e instanceof KvError && e.code === 'DIRECTORY_LOCKED';
}

test('a second open of the same directory in one process fails with DIRECTORY_LOCKED until the first closes', async (t) => {
  const { dir, cleanup } = mustTempDir('lock');
  t.teardown(cleanup);
  const a = await LsmEngine.open({ dir, compactionThread: 'inline' });
  const err = await t.throwsAsync(LsmEngine.open({ dir, compactionThread: 'inline' }));
  t.true(isLocked(err), String(err));
  t.regex(err!.message, /already has it open/);
  // The refused open must not have disturbed the owner's lock.
  t.regex(readFileSync(`${dir}/LOCK`, 'latin1'), new RegExp(`^pid ${process.pid} `));
  await a.close();
  const b = await LsmEngine.open({ dir, compactionThread: 'inline' });
  await b.close();
  t.pass();
});

test('another process cannot open a directory this process holds, and vice versa; kill -9 leaves no blocking lock', async (t) => {
  t.timeout(60_000);
  const { dir, cleanup } = mustTempDir('lock');
  t.teardown(cleanup);

  const mine = await LsmEngine.open({ dir, compactionThread: 'inline' });
  const refused = await child(dir, 'try');
  await exited(refused.proc);
  t.regex(refused.line, new RegExp(`^failed DIRECTORY_LOCKED .*process ${process.pid} holds`));
  await mine.close();

  const holder = await child(dir, 'hold');
  t.teardown(() => {
    holder.proc.kill('SIGKILL');
  });
  t.regex(holder.line, /^opened \d+$/);
  const err = await t.throwsAsync(LsmEngine.open({ dir, compactionThread: 'inline' }));
  t.true(isLocked(err), String(err));
  t.regex(err!.message, new RegExp(`process ${holder.proc.pid} holds`));

  // kill -9: the LOCK file stays behind naming a dead process, which must not block a reopen.
  holder.proc.kill('SIGKILL');
  await exited(holder.proc);
  t.regex(readFileSync(`${dir}/LOCK`, 'latin1'), new RegExp(`^pid ${holder.proc.pid} `));
  const after = await LsmEngine.open({ dir, compactionThread: 'inline' });
  t.is(dec(after.get('default', enc('child'))), String(holder.proc.pid));
  await after.close();
});

test('a stale LOCK (dead pid, reused pid with another start time, empty file) is taken over', async (t) => {
  const { dir, cleanup } = mustTempDir('lock');
  t.teardown(cleanup);
  const done = await child(dir, 'try');
  await exited(done.proc);
  t.regex(done.line, /^opened/, `the child said ${JSON.stringify(done.line)}`);
  for (const text of [`pid ${done.proc.pid} start 1\n`, `pid ${process.ppid} start 1\n`, '']) {
    writeFileSync(`${dir}/LOCK`, text);
    const e = await LsmEngine.open({ dir, compactionThread: 'inline' }).catch((err: unknown) => {
      throw new Error(`open over the stale LOCK ${JSON.stringify(text)} failed: ${String(err)}`, { cause: err });
    });
    t.regex(readFileSync(`${dir}/LOCK`, 'latin1'), new RegExp(`^pid ${process.pid} `), `taken over from ${JSON.stringify(text)}`);
    await e.close();
  }
  // A live owner with a matching start time is respected (our parent process stands in for one).
  const stat = readFileSync(`/proc/${process.ppid}/stat`, 'latin1');
  const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  writeFileSync(`${dir}/LOCK`, `pid ${process.ppid} start ${start}\n`);
  const err = await t.throwsAsync(LsmEngine.open({ dir, compactionThread: 'inline' }));
  t.true(isLocked(err), String(err));
});
