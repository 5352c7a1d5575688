import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mustRun, mustServe, TOKEN } from './helpers.js';

/** A throwaway CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl at test time. */
function pki(): string {
  const dir = mkdtempSync(join(tmpdir(), 'flashkv-cli-pki-'));
  const ssl = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  ssl(['req', '-x509', ...key, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=test-ca']);
  for (const [name, ext] of [
    ['server', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n'],
    ['client', 'extendedKeyUsage=clientAuth\n'],
  ] as const) {
    ssl(['req', ...key, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`]);
    writeFileSync(join(dir, `${name}.ext`), ext);
    ssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`]);
  }
  return dir;
}

test('serve over mutual TLS with a token: certificate and token both needed; no certificate, no token, or plaintext is refused; --log-level logs JSON to stderr', async (t) => {
  const dir = pki();
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const f = (n: string) => join(dir, n);
  const node = await mustServe(['--memory', '--tls-cert', f('server.crt'), '--tls-key', f('server.key'), '--tls-client-ca', f('ca.crt'), '--log-level', 'info']);
  t.teardown(() => node.stop('SIGKILL').then(() => undefined));
  t.regex(node.output(), /"msg":"[^"]*listening[^"]*"|"level":30/, 'pino JSON lines on stderr');
  const base = { FLASHKV_ENDPOINT: node.endpoint, FLASHKV_TLS_CA: f('ca.crt') };

  const withCert = await mustRun(['put', 'k', 'v'], { ...base, FLASHKV_TOKEN: TOKEN, FLASHKV_TLS_CERT: f('client.crt'), FLASHKV_TLS_KEY: f('client.key') });
  t.is(withCert.code, 0, withCert.stderr);
  t.regex(withCert.stdout, /^committed at ts \d+\n$/);
  const read = await mustRun(['get', 'k', '--tls-cert', f('client.crt'), '--tls-key', f('client.key'), '--token', TOKEN], base);
  t.is(read.stdout, 'v\n');
  const certOnly = await mustRun(['get', 'k', '--tls-cert', f('client.crt'), '--tls-key', f('client.key')], base);
  t.is(certOnly.code, 1);
  t.is(certOnly.stderr, 'flashkv: UNAUTHENTICATED: missing or wrong bearer token\n');

  const tokenOnly = await mustRun(['get', 'k'], { ...base, FLASHKV_TOKEN: TOKEN });
  t.is(tokenOnly.code, 1, 'the server requires a client certificate');
  t.is(tokenOnly.stderr.trim().split('\n').length, 1, tokenOnly.stderr);
  const plain = await mustRun(['get', 'k'], { FLASHKV_ENDPOINT: node.endpoint, FLASHKV_TOKEN: TOKEN });
  t.is(plain.code, 1, 'plaintext gRPC to a TLS port fails');

  const missing = await mustRun(['get', 'k', '--tls-ca', f('nope.crt'), '--token', TOKEN], { FLASHKV_ENDPOINT: node.endpoint });
  t.is(missing.code, 2);
  t.regex(missing.stderr, /^flashkv: --tls-ca: cannot read ".*nope\.crt" \(ENOENT\)\n$/);
  const half = await mustRun(['serve', '--memory', '--tls-cert', f('server.crt')]);
  t.is(half.code, 2);
  t.is(half.stderr, 'flashkv: --tls-cert and --tls-key go together\n');
});
