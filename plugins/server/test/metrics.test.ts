import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { SERVER } from '../src/index.js';
import { b, mustFailWith, mustStartNode, TOKEN } from './helpers.js';

async function mustScrape(port: number, token: string | undefined): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, body: await res.text() };
}

test('metrics: requests by method and code, latency histogram, flashback progress; the token guards the endpoint', async (t) => {
  const node = await mustStartNode({ metricsListen: '127.0.0.1:0' });
  t.teardown(() => node.stop());
  const port = node.kernel.resolve(SERVER).metricsPort!;
  t.true(port > 0);
  const c = node.client();
  const ts1 = await c.getTs();
  await c.getTs();
  await mustFailWith(node.client('wrong').get(b('k'), ts1), grpc.status.UNAUTHENTICATED);
  await mustFailWith(c.getTsBatch(5000), grpc.status.INVALID_ARGUMENT);
  const tx = await c.begin();
  tx.put(b('k'), b('v'));
  await tx.commit();
  await c.flashback({ version: ts1 });

  t.is((await mustScrape(port, undefined)).status, 401);
  t.is((await mustScrape(port, 'wrong')).status, 401);
  const { status, body } = await mustScrape(port, TOKEN);
  t.is(status, 200);
  // Tso: the two above and begin()'s (the 1-key txn committed in 1PC: no commit-ts call).
  t.regex(body, /flashkv_grpc_requests_total\{method="Tso",code="OK"\} 3\n/);
  t.regex(body, /flashkv_grpc_requests_total\{method="Get",code="UNAUTHENTICATED"\} 1\n/);
  t.regex(body, /flashkv_grpc_requests_total\{method="Tso",code="INVALID_ARGUMENT"\} 1\n/);
  t.regex(body, /flashkv_grpc_requests_total\{method="Prewrite",code="OK"\} 1\n/);
  t.regex(body, /flashkv_grpc_requests_total\{method="Flashback",code="OK"\} 1\n/);
  t.regex(body, /flashkv_grpc_request_duration_seconds_count\{method="Tso"\} 4\n/);
  t.regex(body, /flashkv_flashback_keys_rewritten 1\n/);
  t.regex(body, /flashkv_flashback_regions_finished 1\n/);
});
