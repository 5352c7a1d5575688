import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WriteBatch } from '@flashkv/core';
import { LsmEngine } from '../src/engine.js';
import { nodeFS } from '../src/fs.js';
import { check, dumpManifest, dumpSst, dumpWal } from '../src/tools.js';
import { enc, mustTempDir } from './helpers.js';

const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));

async function mustBuildDir(dir: string): Promise<void> {
  const engine = await LsmEngine.open({ dir, memtableBytes: 4096, l0CompactionTrigger: 3, compactionThread: 'inline' });
  for (let i = 0; i < 300; i++) {
    await engine.write(new WriteBatch().put('default', enc(`key${i}`), enc(`value${i}`)).put('write', enc(`w${i}`), enc('x')));
  }
  await engine.write(new WriteBatch().delete('default', enc('key7')).deleteRange('write', enc('w1'), enc('w2')));
  await engine.flush();
  await engine.write(new WriteBatch().put('lock', enc('in-wal'), enc('yes')));
  await engine.close();
}

test('dump tools show WAL batches, SST entries and manifest edits; check passes on a healthy directory', async (t) => {
  const { dir, cleanup } = mustTempDir('tools');
  t.teardown(cleanup);
  await mustBuildDir(dir);
  const names = nodeFS.readdir(dir);
  const wal = names.filter((n) => n.endsWith('.log')).sort().at(-1)!;
  const walLines = dumpWal(nodeFS, join(dir, wal));
  t.true(walLines.some((l) => /^@\d+ seq=\d+ ops=1$/.test(l)));
  t.true(walLines.some((l) => l.includes(`PUT lock:${Buffer.from('in-wal').toString('hex')}`)));
  t.regex(walLines.at(-1)!, /^records=1 goodEnd=\d+$/);
  const sst = names.filter((n) => n.endsWith('.sst')).sort()[0]!;
  const sstLines = dumpSst(nodeFS, join(dir, sst));
  t.regex(sstLines[1]!, /^properties \{"format":1,"entries":\d+/);
  t.true(sstLines.some((l) => / @\d+ (PUT|DEL)/.test(l)));
  const manifest = dumpManifest(nodeFS, dir);
  t.regex(manifest[0]!, /^CURRENT -> MANIFEST-\d+$/);
  t.true(manifest.some((l) => l.includes('magic=flashkv-lsm format=1')));
  t.true(manifest.some((l) => /^ {2}\+L\d \d+\.sst/.test(l)));
  const res = check(nodeFS, dir);
  t.true(res.ok, res.lines.join('\n'));
  t.is(res.lines.at(-1), 'check: OK');
  // The CLI runs the same code.
  const out = execFileSync(process.execPath, [CLI, 'check', dir], { encoding: 'utf8' });
  t.regex(out, /check: OK/);
});

test('check reports a damaged SST and the CLI exits 1', async (t) => {
  const { dir, cleanup } = mustTempDir('tools');
  t.teardown(cleanup);
  await mustBuildDir(dir);
  const sst = nodeFS.readdir(dir).filter((n) => n.endsWith('.sst')).sort()[0]!;
  const bytes = nodeFS.readFile(join(dir, sst)).slice();
  bytes[10] ^= 0x01;
  const f = nodeFS.create(join(dir, sst));
  f.append(bytes);
  f.close();
  const res = check(nodeFS, dir);
  t.false(res.ok);
  t.true(res.lines.some((l) => l.startsWith(`PROBLEM ${sst}: `) && l.includes('checksum mismatch')), res.lines.join('\n'));
  const run = spawnSync(process.execPath, [CLI, 'check', dir], { encoding: 'utf8' });
  t.is(run.status, 1);
  t.regex(run.stdout, /check: FAILED/);
  const usage = spawnSync(process.execPath, [CLI], { encoding: 'utf8' });
  t.is(usage.status, 2);
  t.regex(usage.stderr, /usage: flashkv-lsm/);
});
