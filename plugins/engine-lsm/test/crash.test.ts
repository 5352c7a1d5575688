import test from 'ava';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { LsmEngine } from '../src/engine.js';
import { aKey, CRASH_LANES, CRASH_OPTIONS, rKey, value } from './crash-shared.js';
import { mustTempDir, rng, testSeed } from './helpers.js';

const CHILD = fileURLToPath(new URL('./crash-child.js', import.meta.url));

/** Runs the child until `killAfterMs` after it is ready, then SIGKILLs it; returns acked batches. */
function mustRunChild(dir: string, round: number, start: number, killAfterMs: number): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, dir, String(round), String(start)], { stdio: ['ignore', 'pipe', 'pipe'] });
    const acked: number[] = [];
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      let nl: number;
      while ((nl = out.indexOf('\n')) >= 0) {
        const line = out.slice(0, nl);
        out = out.slice(nl + 1);
        if (line === 'ready') setTimeout(() => child.kill('SIGKILL'), killAfterMs);
        else if (line.startsWith('ack ')) acked.push(Number(line.slice(4)));
      }
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve(acked);
      else reject(new Error(`child exited with ${code} before the kill: ${err}`));
    });
  });
}

test('kill -9 at random moments: every acknowledged sync write survives, nothing is half-applied', async (t) => {
  const { dir, cleanup } = mustTempDir('crash');
  t.teardown(cleanup);
  const seed = testSeed(Date.now() % 100000);
  t.log(`seed ${seed} (replay with SEED=${seed})`);
  const r = rng(seed);
  const rounds = 10;
  const allAcked: number[] = [];
  let start = 0;
  let totalAcked = 0;
  for (let round = 1; round <= rounds; round++) {
    const killAfter = 30 + Math.floor(r() * 400);
    const acked = await mustRunChild(dir, round, start, killAfter);
    totalAcked += acked.length;
    allAcked.push(...acked);
    const engine = await LsmEngine.open({ dir, ...CRASH_OPTIONS });
    try {
      const has = (cf: 'default' | 'write' | 'lock', i: number) => engine.get(cf, aKey(i)) !== undefined;
      for (const i of allAcked) {
        t.deepEqual(engine.get('default', aKey(i)), value(i), `seed ${seed} round ${round}: acked batch ${i} lost`);
      }
      // This round's batches: all three families or none; per lane a prefix with one marker.
      const maxAck = acked.length > 0 ? Math.max(...acked) : start;
      for (let l = 0; l < CRASH_LANES; l++) {
        let present: number[] = [];
        for (let i = start + l; i <= maxAck + 2 * CRASH_LANES; i += CRASH_LANES) {
          const all = [has('default', i), has('write', i), has('lock', i)];
          t.true(all.every((x) => x === all[0]), `seed ${seed} round ${round}: batch ${i} half-applied ${all}`);
          if (all[0]) present.push(i);
        }
        for (let k = 0; k < present.length; k++) t.is(present[k], start + l + k * CRASH_LANES, `seed ${seed} round ${round} lane ${l}: gap`);
        const markers = present.filter((i) => engine.get('raft', rKey(round, i)) !== undefined);
        t.deepEqual(markers, present.length > 0 ? [present.at(-1)] : [], `seed ${seed} round ${round} lane ${l}: markers`);
        present = [];
      }
    } finally {
      await engine.close();
    }
    start = (allAcked.length > 0 ? Math.max(...allAcked) : start) + 1000;
  }
  t.log(`rounds ${rounds}, acknowledged batches ${totalAcked}`);
  t.true(totalAcked > 0, 'the child acknowledged writes before being killed');
});
