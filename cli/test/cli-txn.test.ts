import test from 'ava';
import { mustRun, mustServe, TOKEN } from './helpers.js';

// A second served node, so the round trip in cli-node.test.ts stays well under the time limit.
test('txn runs several operations in one transaction; tokens are checked', async (t) => {
  const node = await mustServe(['--memory', '--metrics', '127.0.0.1:0']);
  t.teardown(() => node.stop('SIGKILL').then(() => undefined));
  const env = { FLASHKV_ENDPOINT: node.endpoint, FLASHKV_TOKEN: TOKEN };
  t.is((await mustRun(['put', 'user:1', 'Ada'], env)).code, 0);

  // Auth through the CLI: a wrong token and a missing one.
  const wrong = await mustRun(['get', 'user:1', '--endpoint', node.endpoint, '--token', 'nope']);
  t.is(wrong.code, 1);
  t.is(wrong.stdout, '');
  t.is(wrong.stderr, 'flashkv: UNAUTHENTICATED: missing or wrong bearer token\n');
  const missing = await mustRun(['get', 'user:1', '--endpoint', node.endpoint]);
  t.is(missing.code, 2);
  t.regex(missing.stderr, /^flashkv: no token: pass --token or set FLASHKV_TOKEN/);

  // Several operations in one transaction; a get sees the txn's own write.
  const txn = await mustRun(['txn', 'put user:5 Edsger Dijkstra', 'get user:5', 'delete user:1', 'get user:1'], env);
  t.is(txn.code, 0, txn.stderr);
  t.regex(txn.stdout, /^user:5 = Edsger Dijkstra\nuser:1 \(not found\)\ncommitted at ts \d+\n$/);
  t.is((await mustRun(['get', 'user:5'], env)).stdout, 'Edsger Dijkstra\n');
  const badTxn = await mustRun(['txn', 'put user:6 x', 'frobnicate user:1'], env);
  t.is(badTxn.code, 2);
  t.regex(badTxn.stderr, /^flashkv: cannot parse "frobnicate user:1"/);
  t.is((await mustRun(['get', 'user:6'], env)).code, 1, 'nothing of a txn with a bad op was applied');

  // serve --metrics prints a scrape command; the endpoint counted the refused call.
  const scrape = /curl -H 'authorization: Bearer (\S+)' (http:\/\/127\.0\.0\.1:\d+\/metrics)/.exec(node.output());
  t.truthy(scrape, node.output());
  const res = await fetch(scrape![2]!, { headers: { authorization: `Bearer ${scrape![1]}` } });
  t.is(res.status, 200);
  // `get` asks for a timestamp first, so the refused call is a Tso.
  t.regex(await res.text(), /flashkv_grpc_requests_total\{method="Tso",code="UNAUTHENTICATED"\} 1\n/);

  t.is(await node.stop('SIGTERM'), 0, 'SIGTERM stops the node cleanly');
});
