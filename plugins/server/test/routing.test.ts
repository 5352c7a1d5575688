import test from 'ava';
import { KvError, PLACEMENT, STORAGE, type Storage } from '@flashkv/core';
import { FlashKvClient, FlashKvServer } from '../src/index.js';
import { b, mustStartNode, s, TOKEN } from './helpers.js';

/**
 * Two real gRPC servers on loopback. B is a full node. A shares B's placement (one TSO, one
 * region directory, as nodes of a cluster do) but its own storage is a follower's: every data
 * call fails NOT_LEADER naming store 1, and A's topology says store 1 answers at B's address.
 */
async function twoServers() {
  const nodeB = await mustStartNode({ withFlashback: false });
  const storageB = nodeB.kernel.resolve(STORAGE);
  const placement = nodeB.kernel.resolve(PLACEMENT);
  const refusedAtA: string[] = [];
  const follower = new Proxy(storageB, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function' || !['get', 'batchGet', 'prewrite', 'commit', 'rollback', 'scan'].includes(String(prop))) return v;
      return async () => {
        refusedAtA.push(String(prop));
        const region = placement.regions()[0]!;
        throw new KvError('NOT_LEADER', `this store's peer of region ${region.id} is not its leader`, { regionId: region.id, leader: { peerId: region.peers[0]!.id, storeId: 1 } });
      };
    },
  }) as Storage;
  const serverA = new FlashKvServer({
    storage: follower,
    placement,
    token: TOKEN,
    topology: {
      storeAddress: (storeId) => (storeId === 1 ? nodeB.endpoint : undefined),
      leaderOf: (regionId) => {
        const r = placement.getRegion(regionId);
        return { peerId: r.peers[0]!.id, storeId: 1 };
      },
    },
  });
  await serverA.listen('127.0.0.1:0');
  return { nodeB, serverA, endpointA: serverA.address!, refusedAtA };
}

test('region-aware client follows a NOT_LEADER leader address to another server, then routes there directly', async (t) => {
  const { nodeB, serverA, endpointA, refusedAtA } = await twoServers();
  const c = new FlashKvClient({ endpoint: endpointA, token: TOKEN, deadlineMs: 10_000 });
  t.teardown(async () => {
    c.close();
    await serverA.shutdown(1000);
    await nodeB.stop();
  });
  // The region list from A carries the leader peer and its store's address (B's).
  const rs = await c.regions();
  t.is(rs.length, 1);
  const leader = rs[0]!.peers.find((p) => p.id === rs[0]!.leaderPeerId);
  t.is(leader?.address, nodeB.endpoint);
  c.invalidateRegions();

  // First write: unrouted to A (no directory yet), NOT_LEADER with B's address, retried at B.
  const tx = await c.begin();
  tx.put(b('k1'), b('v1'));
  await tx.commit();
  t.deepEqual(refusedAtA, ['prewrite']);
  t.is(c.stats.retries['NOT_LEADER'], 1);
  // From now on data calls go to B directly: A refuses nothing more.
  for (let i = 2; i <= 5; i++) {
    const w = await c.begin();
    w.put(b(`k${i}`), b(`v${i}`));
    w.put(b(`j${i}`), b(`w${i}`));
    await w.commit();
  }
  const ts = await c.getTs();
  t.is(s(await c.get(b('k3'), ts)), 'v3');
  t.is((await c.batchGet([b('k1'), b('j2'), b('k5')], ts)).length, 3);
  t.deepEqual(refusedAtA, ['prewrite']);
  // What was written is on B, read by a client of B's own.
  const direct = nodeB.client();
  t.is(s(await direct.get(b('j4'), ts)), 'w4');
});

test('a client given several endpoints moves on when the first is unreachable', async (t) => {
  const node = await mustStartNode({ withFlashback: false });
  // Port 1 on loopback: nothing listens there, the connection is refused.
  const c = new FlashKvClient({ endpoint: `127.0.0.1:1,${node.endpoint}`, token: TOKEN, deadlineMs: 10_000 });
  t.teardown(async () => {
    c.close();
    await node.stop();
  });
  const ts = await c.getTs();
  t.true(ts > 0n);
  t.is(c.endpoint, node.endpoint);
  const tx = await c.begin();
  tx.put(b('x'), b('y'));
  await tx.commit();
  t.is(s(await c.get(b('x'), await c.getTs())), 'y');
  t.true((c.stats.retries['UNAVAILABLE'] ?? 0) >= 1);
});
